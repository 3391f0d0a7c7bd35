"""The shared near-duplicate index as one batch of articles sees it.

Looking for a near copy article by article cost a join over the band table
per article, the largest single cost of storing one (profiled: ~1.6 ms of
~5 ms on SQLite). A batch reads the index entries sharing any of its band
keys at once and then answers each article's question in memory, adding the
batch's own articles as they are stored: article by article, the answer is
the one a query of the index at that point of the transaction would give
(candidates in the story window, most shared bands first, then the oldest
article, at most ``MAX_CANDIDATES``; the exact check decides).

On PostgreSQL the read happens *before* the batch's claim locks (it was the
largest statement under them, and every batch waits for the locks of every
other): the batch notes its snapshot, reads, and once it holds the locks
``catch_up`` reads only the band keys of the articles committed since (kept
in their sketch rows), from the claim log every batch writes (``log_claims``:
its transaction id and articles; ``pg_visible_in_snapshot`` says which were
not committed at the read), and the last update of the candidate stories
again. Every batch that
shares a key with this one either committed before the read, or held the
lock and committed before this batch took it: its rows are in the read or
in the catch-up. On SQLite the batch's transaction already holds the one
write lock when it reads, so nothing is committed in between.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from service.storage.listed import BigintArray, Bind, in_listed
from service.storage.models import ArticleRow, ArticleSketchRow, StoryBandRow, StoryRow
from service.storage.stories import MAX_CANDIDATES, SketchedArticle, decode_bands
from service.stories import Candidate, Shingles, best_story
from service.stories.substitution import is_short, names_substituted

_CHUNK = 500
_SNAPSHOT = "SELECT pg_current_snapshot()::text"
_LOG = ("INSERT INTO claim_log (xact, article_id, created_at) "
        "SELECT pg_current_xact_id()::text::bigint, a, now() FROM unnest(%s::bigint[]) AS t(a) "
        "ON CONFLICT DO NOTHING")
# the band rows holding any of the batch's keys (through the primary key: the
# batch's transaction runs with sequential scans off, see
# service.storage.processing.lookups_only)
_SHARING = "SELECT band, article_id FROM story_bands WHERE band = ANY(%s::bigint[])"
_STORIES = (
    "SELECT a.id, a.story_id, s.updated_at FROM articles a "
    "JOIN stories s ON s.id = a.story_id WHERE a.id = ANY(%s::bigint[])"
)
# the articles stored by transactions the snapshot did not see as committed (the
# log's key starts with the transaction: a range scan), then their band keys (in
# their sketch rows) and stories
_SINCE = (
    "SELECT article_id FROM claim_log "
    "WHERE xact >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)::text::bigint "
    "AND NOT pg_visible_in_snapshot(xact::text::xid8, %(snapshot)s::pg_snapshot)"
)
_SINCE_BANDS = (
    "SELECT k.article_id, k.bands, a.story_id, s.updated_at FROM article_sketches k "
    "JOIN articles a ON a.id = k.article_id JOIN stories s ON s.id = a.story_id "
    "WHERE k.article_id = ANY(%s::bigint[]) AND k.bands IS NOT NULL"
)
_UPDATED = "SELECT id, updated_at FROM stories WHERE id = ANY(%s::bigint[])"


def log_claims(connection: Connection, article_ids: list[int]) -> None:
    """Note the batch's articles under its transaction id (PostgreSQL; see the module)."""
    if connection.dialect.name == "postgresql" and article_ids:
        connection.exec_driver_sql(_LOG, (BigintArray(sorted(article_ids)),))


@dataclass
class _Indexed:
    story_id: int
    shingles: Shingles | None  # None: not read from the database yet


class NearIndex:
    """Band key -> indexed articles, for the bands of one batch."""

    def __init__(self, connection: Connection, bands: Iterable[int]) -> None:
        self._connection = connection
        self._articles: dict[int, _Indexed] = {}
        self._by_band: defaultdict[int, list[int]] = defaultdict(list)
        self._updated: dict[int, datetime] = {}  # story -> updated_at
        self._seen: set[tuple[int, int]] = set()  # (band, article) read so far
        # article -> its text and language, read when a brief needs them
        self._texts: dict[int, tuple[str, str | None]] = {}
        self._bands: list[int] = np.unique(np.fromiter(bands, dtype=np.int64)).tolist()
        self._snapshot: str | None = None  # PostgreSQL: the read's, for ``catch_up``
        if not self._bands:
            return
        if connection.dialect.name != "postgresql":
            query, bound = _sharing_bands(connection.dialect.name)
            self._take(connection.execute(query, {"bands": bound(self._bands)}))
            return
        run = connection.exec_driver_sql
        self._snapshot = str(run(_SNAPSHOT).scalar_one())  # taken first: the read sees as much
        pairs = run(_SHARING, (BigintArray(self._bands),)).all()
        if pairs:
            stories = {a: (story, updated) for a, story, updated in run(
                _STORIES, (BigintArray(sorted({a for _, a in pairs})),))}
            self._take((band, a, *stories.get(a, (None, None))) for band, a in pairs)

    def catch_up(self, own: Iterable[int]) -> None:
        """Once the claim locks are held: add the rows committed since the read (not
        those of the batch's ``own`` articles), and the candidate stories' last update
        as it is now (no-op on SQLite)."""
        if self._snapshot is None:
            return
        run = self._connection.exec_driver_sql
        mine = set(own)
        since = sorted({a for (a,) in run(_SINCE, {"snapshot": self._snapshot})} - mine)
        if since:
            wanted = np.array(self._bands, dtype=np.int64)
            for article, blob, story, updated in run(_SINCE_BANDS, (BigintArray(since),)):
                shared = np.intersect1d(decode_bands(blob), wanted, assume_unique=True)
                self._take((band, article, story, updated) for band in shared.tolist())
        if self._updated:
            rows = run(_UPDATED, (BigintArray(sorted(self._updated)),))
            self._updated.update({story: updated for story, updated in rows})

    def _take(self, rows: Iterable[Any]) -> None:
        for band, article_id, story_id, updated_at in rows:
            if story_id is None or (band, article_id) in self._seen:
                continue  # no story yet (the batch's own rows); read twice
            self._seen.add((band, article_id))
            self._by_band[band].append(article_id)
            self._articles.setdefault(article_id, _Indexed(story_id, None))
            self._updated[story_id] = updated_at

    def find(self, near: SketchedArticle, own_story: int) -> int | None:
        """The recent story that already holds a near copy of this article, if any."""
        if not near.sketch.bands:
            return None
        by_band = self._by_band
        shared = [by_band[band] for band in set(near.sketch.bands) if band in by_band]
        if not shared:  # most articles: one Counter.update per band cost more than the rest
            return None
        hits = Counter(chain.from_iterable(shared))
        ranked = sorted(
            (article for article in hits
             if (story := self._articles[article].story_id) != own_story
             and self._updated.get(story, near.since) >= near.since),
            key=lambda article: (-hits[article], article),
        )[:MAX_CANDIDATES]
        if not ranked:
            return None
        self._read_shingles(ranked)
        candidates = []
        for article in ranked:
            indexed = self._articles[article]
            if indexed.shingles is not None:
                candidates.append(Candidate(article, indexed.story_id, indexed.shingles))
        return best_story(near.sketch.shingles, candidates, near.threshold,
                          self.brief_differs(near))

    def brief_differs(self, near: SketchedArticle) -> Callable[[int], bool] | None:
        """For a brief: whether an indexed article is the same template naming someone
        else, another story (``service.stories.substitution``); None for longer texts."""
        if not is_short(near.text):
            return None

        def differs(article: int) -> bool:
            text, language = self._text(article)
            return names_substituted(near.text, text, (near.language, language))

        return differs

    def joined(self, story_id: int, now: datetime) -> None:
        """An article of the batch joined ``story_id`` (its updated_at moved)."""
        self._updated[story_id] = now

    def add(self, article_id: int, story_id: int, near: SketchedArticle, now: datetime) -> None:
        """An article of the batch, stored and indexed: a candidate for the next ones."""
        self._updated.setdefault(story_id, now)
        self._texts[article_id] = (near.text, near.language)
        if near.sketch.empty:
            return
        self._articles[article_id] = _Indexed(story_id, near.sketch.shingles)
        by_band = self._by_band  # a defaultdict: setdefault built a list for every band
        for band in set(near.sketch.bands):
            by_band[band].append(article_id)

    def _text(self, article: int) -> tuple[str, str | None]:
        """The article's text as stored (empty once retention dropped it), its language."""
        if article not in self._texts:
            row = self._connection.execute(
                select(ArticleRow.content, ArticleRow.summary, ArticleRow.language)
                .where(ArticleRow.id == article)
            ).one_or_none()
            self._texts[article] = ((row[0] or row[1] or "", row[2]) if row is not None
                                    else ("", None))
        return self._texts[article]

    def _read_shingles(self, articles: list[int]) -> None:
        missing = [a for a in articles if self._articles[a].shingles is None]
        if not missing:
            return
        rows = self._connection.execute(
            select(ArticleSketchRow.article_id, ArticleSketchRow.shingles)
            .where(ArticleSketchRow.article_id.in_(missing))
        )
        for article, blob in rows:
            self._articles[article].shingles = np.frombuffer(blob, dtype="<u4").astype(np.uint32)


@lru_cache(maxsize=2)
def _sharing_bands(dialect: str) -> tuple[Any, Bind]:
    """The index entries holding any of a list of band keys, with their story: one
    statement and one parameter however many keys a batch has."""
    condition, bind = in_listed(dialect, StoryBandRow.band, "bands")
    query = (
        select(StoryBandRow.band, StoryBandRow.article_id, ArticleRow.story_id,
               StoryRow.updated_at)
        .join(ArticleRow, ArticleRow.id == StoryBandRow.article_id)
        .join(StoryRow, StoryRow.id == ArticleRow.story_id)
        .where(condition)
    )
    return query, bind
