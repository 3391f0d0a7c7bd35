"""The shared story index: band keys, shingles, feed segments, salient terms.

Every worker reads and writes the same tables, so the index is one truth
whatever process handles an article. The same-event path keeps each
article's salient terms (an inverted index), its TF-IDF vectors, and the
document frequencies of terms per day; an article's vector is weighed with
the frequencies of the window. Rows older than the window are pruned every
``PRUNE_EVERY`` articles (``prune_index``). Claiming stays atomic: on PostgreSQL an
article takes a transaction-scoped advisory lock on each of its band keys
(in sorted order, so two workers never deadlock) before it looks for
candidates; two copies that could find each other share a band, so the
second waits until the first has committed its story and then joins it. On
SQLite the database's single writer gives the same order.

The functions taking a ``Session`` run inside ``ArticleStore.commit_processed``'s
transaction; ``StoryIndexStore`` reads stories for the command line.
"""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import BigInteger

from service.storage.database import Database, insert_ignore
from service.storage.models import (
    ArticleRow,
    ArticleSketchRow,
    FeedRow,
    FeedSegmentRow,
    StoryBandRow,
    StoryKeyRow,
    StoryRow,
    StoryTermRow,
    TermFrequencyRow,
)
from service.stories import (
    Candidate,
    EventCandidate,
    EventVector,
    NearDuplicate,
    Shingles,
    Sketch,
    Terms,
    article_sketch,
    article_terms,
    best_event_story,
    best_story,
    event_vector,
)
from service.stories.events import DOCUMENTS, MIN_DOCUMENTS, MIN_SHARED, decode, encode

MAX_CANDIDATES = 20
PRUNE_EVERY = 200  # articles between two prunings of the index
_SHARDS = 16
_EPOCH = datetime(1970, 1, 1).date()
_CHUNK = 500
_LOCK_BANDS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS t(k)"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger())))


# Statements built once, lists bound at execution ("expanding"): building an IN
# of hundreds of literals per article cost more than running the query.
def _any(column: QueryableAttribute[int], name: str) -> ColumnElement[bool]:
    return column.in_(bindparam(name, expanding=True))


_HITS = func.count().label("hits")
_BAND_CANDIDATES = (
    select(StoryBandRow.article_id, ArticleRow.story_id, _HITS)
    .join(ArticleRow, ArticleRow.id == StoryBandRow.article_id)
    .join(StoryRow, StoryRow.id == ArticleRow.story_id)
    .where(_any(StoryBandRow.band, "bands"))
    .where(StoryRow.updated_at >= bindparam("since"), StoryRow.id != bindparam("own"))
    .group_by(StoryBandRow.article_id, ArticleRow.story_id)
    .order_by(_HITS.desc(), StoryBandRow.article_id)
    .limit(MAX_CANDIDATES)
)
_SHINGLES = select(ArticleSketchRow.article_id, ArticleSketchRow.shingles).where(
    _any(ArticleSketchRow.article_id, "ids"))
# only a story's first article: a story joined by other articles about its
# event does not drift away from it
_EVENT_CANDIDATES = (
    select(StoryTermRow.article_id, StoryRow.id, _HITS)
    .join(StoryRow, StoryRow.first_article_id == StoryTermRow.article_id)
    .where(_any(StoryTermRow.term, "terms"))
    .where(StoryRow.updated_at >= bindparam("since"), StoryRow.id != bindparam("own"))
    .group_by(StoryTermRow.article_id, StoryRow.id)
    .having(_HITS >= MIN_SHARED)
    .order_by(_HITS.desc(), StoryTermRow.article_id)
    .limit(MAX_CANDIDATES)
)
_EVENT_VECTORS = select(ArticleSketchRow.article_id, ArticleSketchRow.event).where(
    _any(ArticleSketchRow.article_id, "ids"), ArticleSketchRow.event.is_not(None))
_FREQUENCIES = (
    select(TermFrequencyRow.term, func.sum(TermFrequencyRow.documents))
    .where(_any(TermFrequencyRow.term, "terms"), TermFrequencyRow.day >= bindparam("day"))
    .group_by(TermFrequencyRow.term)
)
_SEEN_SEGMENTS = select(FeedSegmentRow.fingerprint).where(
    FeedSegmentRow.feed_id == bindparam("feed"),
    _any(FeedSegmentRow.fingerprint, "prints"),
    FeedSegmentRow.article_id != bindparam("article"),
)


@dataclass(frozen=True, slots=True, eq=False)
class SketchedArticle:
    """An article's sketch once its feed's boilerplate is known."""

    sketch: Sketch
    threshold: float
    since: datetime
    terms: Terms | None = None  # None: the same-event path is off
    vector: EventVector | None = None  # None: off, or too few documents yet
    event_threshold: float = 1.0


@dataclass(frozen=True, slots=True)
class StorySummary:
    """One line of `newswatch stories`."""

    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    article_count: int
    outlets: tuple[str, ...]  # in the order they carried the story


def prepare_near(session: Session, row: ArticleRow, near: NearDuplicate) -> SketchedArticle:
    """Learn the feed's boilerplate, sketch the article, lock its band keys.

    Segment rows are written in this transaction, so a second entry of the
    same feed carrying the same footer waits for the first and sees it.
    """
    fingerprints = sorted({part.fingerprint for part in near.parts})
    boilerplate: set[int] = set()
    for start in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[start : start + _CHUNK]
        boilerplate.update(_learn_chunk(session, row.feed_id, row.id, chunk))
    parts = list(near.parts)
    sketch = article_sketch(parts, boilerplate, near.title_parts)
    lock_bands(session, sketch)
    if near.event_threshold is None:
        return SketchedArticle(sketch, near.threshold, near.since)
    terms = article_terms(parts, boilerplate, near.title_parts)
    frequencies = _frequencies(session, terms.distinct, near.since)
    vector = event_vector(terms, frequencies) if frequencies[DOCUMENTS] >= MIN_DOCUMENTS else None
    return SketchedArticle(sketch, near.threshold, near.since, terms, vector, near.event_threshold)


def lock_bands(session: Session, sketch: Sketch) -> None:
    """Serialise claims of articles that share a band key (PostgreSQL)."""
    if sketch.bands and session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_BANDS, {"keys": sorted(set(sketch.bands))})


def find_near_story(session: Session, near: SketchedArticle, own_story: int) -> int | None:
    """The recent story holding a near copy of this article, else one about its event."""
    if near.sketch.bands:
        candidates = _candidates(session, near, own_story)
        story = best_story(near.sketch.shingles, candidates, near.threshold)
        if story is not None:
            return story
    if near.vector is None:
        return None
    found = _event_candidates(session, near, near.vector, own_story)
    return best_event_story(near.vector, found, near.event_threshold)


def _event_candidates(
    session: Session, near: SketchedArticle, vector: EventVector, own_story: int
) -> list[EventCandidate]:
    """Stories whose first article shares salient terms."""
    params = {"terms": vector.salient, "since": near.since, "own": own_story}
    stories = {a: s for a, s, _ in session.execute(_EVENT_CANDIDATES, params)}
    if not stories:
        return []
    rows = session.execute(_EVENT_VECTORS, {"ids": sorted(stories)})
    return [EventCandidate(a, stories[a], decode(blob)) for a, blob in rows if blob]


def _day(when: datetime) -> int:
    return (when.date() - _EPOCH).days


def _frequencies(session: Session, terms: Sequence[int], since: datetime) -> dict[int, int]:
    """Documents per term over the window (``DOCUMENTS``: all documents)."""
    found: dict[int, int] = {DOCUMENTS: 0}
    wanted = [DOCUMENTS, *terms]
    for start in range(0, len(wanted), _CHUNK):
        params = {"terms": wanted[start : start + _CHUNK], "day": _day(since)}
        found.update({term: int(count) for term, count in session.execute(_FREQUENCIES, params)})
    return found


def _shard() -> int:
    """This process's share of the term counts (host and process id, hashed)."""
    return zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % _SHARDS


def _count_terms(session: Session, terms: Terms, now: datetime) -> None:
    """One more document for each of its terms, in this process's shard.

    Hundreds of rows per article: sent straight to the driver (executemany),
    sorted so that two workers meeting on one shard lock rows in one order.
    """
    day, shard = _day(now), _shard()
    connection = session.connection()
    marker = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
    statement = (
        "INSERT INTO term_frequencies (term, day, shard, documents) "
        f"VALUES ({marker}, {marker}, {marker}, 1) ON CONFLICT (term, day, shard) "
        "DO UPDATE SET documents = term_frequencies.documents + 1"
    )
    rows = [(term, day, shard) for term in sorted({DOCUMENTS, *terms.distinct})]
    connection.exec_driver_sql(statement, rows)


def _candidates(session: Session, near: SketchedArticle, own_story: int) -> list[Candidate]:
    params = {"bands": sorted(set(near.sketch.bands)), "since": near.since, "own": own_story}
    stories = {a: s for a, s, _ in session.execute(_BAND_CANDIDATES, params) if s is not None}
    if not stories:
        return []
    rows = session.execute(_SHINGLES, {"ids": sorted(stories)})
    return [Candidate(a, stories[a], _decode(blob)) for a, blob in rows]


def index_article(session: Session, article_id: int, near: SketchedArticle, now: datetime) -> None:
    """Add the article's band keys, shingles and terms to the shared index (idempotent).

    Every ``PRUNE_EVERY`` articles, rows from before the window go (``prune_index``).
    """
    if near.terms is not None:
        _count_terms(session, near.terms, now)
    if article_id % PRUNE_EVERY == 0:
        prune_index(session, near.since)
    sketch, vector = near.sketch, near.vector
    if sketch.empty:
        return
    session.execute(
        insert_ignore(session, ArticleSketchRow.__table__)  # type: ignore[arg-type]
        .values(article_id=article_id, shingles=_encode(sketch), created_at=now,
                event=encode(vector) if vector is not None else None)
    )
    session.execute(
        insert_ignore(session, StoryBandRow.__table__),  # type: ignore[arg-type]
        [{"band": band, "article_id": article_id} for band in sorted(set(sketch.bands))],
    )
    if vector is not None and vector.salient:
        session.execute(
            insert_ignore(session, StoryTermRow.__table__),  # type: ignore[arg-type]
            [{"term": term, "article_id": article_id} for term in vector.salient],
        )


def prune_index(session: Session, before: datetime) -> int:
    """Delete index rows of articles indexed before ``before``, stale keys and counts.

    Returns how many articles left the index. Their stories stay; a story
    not updated since ``before`` also loses its exact-copy keys (past the
    window nothing joins it any more).
    """
    old = select(ArticleSketchRow.article_id).where(ArticleSketchRow.created_at < before)
    for table in (StoryBandRow, StoryTermRow):
        session.execute(delete(table).where(table.article_id.in_(old)))
    session.execute(delete(FeedSegmentRow).where(FeedSegmentRow.article_id.in_(old)))
    pruned = session.execute(delete(ArticleSketchRow).where(ArticleSketchRow.created_at < before))
    stale = select(StoryRow.id).where(StoryRow.updated_at < before)
    session.execute(delete(StoryKeyRow).where(StoryKeyRow.story_id.in_(stale)))
    session.execute(delete(TermFrequencyRow).where(TermFrequencyRow.day < _day(before)))
    return int(pruned.rowcount or 0)  # type: ignore[attr-defined]


def _encode(sketch: Sketch) -> bytes:
    return sketch.shingles.astype("<u4").tobytes()


def _decode(blob: bytes) -> Shingles:
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


class StoryIndexStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def recent(self, since: datetime, limit: int = 200) -> list[StorySummary]:
        """Stories updated since ``since``, newest first, with their outlets."""
        with self._db.session() as session:
            stories = session.scalars(
                select(StoryRow).where(StoryRow.updated_at >= since)
                .order_by(StoryRow.updated_at.desc(), StoryRow.id.desc()).limit(limit)
            ).all()
            members = _members(session, [s.id for s in stories])
            return [_summary(story, members.get(story.id, [])) for story in stories]


def _learn_chunk(
    session: Session, feed_id: int, article_id: int, chunk: list[int]
) -> list[int]:
    session.execute(
        insert_ignore(session, FeedSegmentRow.__table__),  # type: ignore[arg-type]
        [{"feed_id": feed_id, "fingerprint": f, "article_id": article_id} for f in chunk],
    )
    params = {"feed": feed_id, "prints": chunk, "article": article_id}
    return list(session.scalars(_SEEN_SEGMENTS, params))


def _members(session: Session, story_ids: list[int]) -> dict[int, list[tuple[int, str, str]]]:
    """story id -> [(article id, title, outlet)] of its articles, oldest first."""
    found: dict[int, list[tuple[int, str, str]]] = {}
    for start in range(0, len(story_ids), _CHUNK):
        query = (
            select(ArticleRow.story_id, ArticleRow.id, ArticleRow.title,
                   FeedRow.name, FeedRow.title, FeedRow.url)
            .join(FeedRow, FeedRow.id == ArticleRow.feed_id)
            .where(ArticleRow.story_id.in_(story_ids[start : start + _CHUNK]))
            .order_by(ArticleRow.id)
        )
        for story, article, title, name, feed_title, url in session.execute(query):
            if story is not None:
                found.setdefault(story, []).append((article, title, name or feed_title or url))
    return found


def _summary(story: StoryRow, members: list[tuple[int, str, str]]) -> StorySummary:
    outlets = tuple(dict.fromkeys(outlet for _, _, outlet in members))
    first = [t for a, t, _ in members if a == story.first_article_id]
    title = (first or [t for _, t, _ in members] or [""])[0]
    return StorySummary(
        id=story.id, title=title, created_at=story.created_at, updated_at=story.updated_at,
        article_count=story.article_count, outlets=outlets,
    )
