"""The shared near-duplicate index as one batch of articles sees it.

Looking for a near copy article by article cost a join over the band table
per article, the largest single cost of storing one (profiled: ~1.6 ms of
~5 ms on SQLite). A batch reads the index entries sharing any of its band
keys at once, after its band locks are held (so every competing claim has
committed), and then answers each article's question in memory, adding the
batch's own articles as they are stored: article by article, the answer is
the one a query of the index at that point of the transaction would give
(candidates in the story window, most shared bands first, then the oldest
article, at most ``MAX_CANDIDATES``; the exact check decides).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from service.storage.listed import Bind, in_listed
from service.storage.models import ArticleRow, ArticleSketchRow, StoryBandRow, StoryRow
from service.storage.stories import MAX_CANDIDATES, SketchedArticle
from service.stories import Candidate, Shingles, best_story

_CHUNK = 500


@dataclass
class _Indexed:
    story_id: int
    shingles: Shingles | None  # None: not read from the database yet


class NearIndex:
    """Band key -> indexed articles, for the bands of one batch."""

    def __init__(self, connection: Connection, bands: Iterable[int]) -> None:
        self._connection = connection
        self._articles: dict[int, _Indexed] = {}
        self._by_band: dict[int, list[int]] = {}
        self._updated: dict[int, datetime] = {}  # story -> updated_at
        wanted = sorted(set(bands))
        if not wanted:
            return
        query, bound = _sharing_bands(connection.dialect.name)
        for band, article_id, story_id, updated_at in connection.execute(
                query, {"bands": bound(wanted)}):
            if story_id is None:  # not possible for an indexed article; be safe
                continue
            self._by_band.setdefault(band, []).append(article_id)
            self._articles.setdefault(article_id, _Indexed(story_id, None))
            self._updated[story_id] = updated_at

    def find(self, near: SketchedArticle, own_story: int) -> int | None:
        """The recent story that already holds a near copy of this article, if any."""
        if not near.sketch.bands:
            return None
        hits: Counter[int] = Counter()
        for band in set(near.sketch.bands):
            hits.update(self._by_band.get(band, ()))
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
        return best_story(near.sketch.shingles, candidates, near.threshold)

    def joined(self, story_id: int, now: datetime) -> None:
        """An article of the batch joined ``story_id`` (its updated_at moved)."""
        self._updated[story_id] = now

    def add(self, article_id: int, story_id: int, near: SketchedArticle, now: datetime) -> None:
        """An article of the batch, stored and indexed: a candidate for the next ones."""
        self._updated.setdefault(story_id, now)
        if near.sketch.empty:
            return
        self._articles[article_id] = _Indexed(story_id, near.sketch.shingles)
        for band in sorted(set(near.sketch.bands)):
            self._by_band.setdefault(band, []).append(article_id)

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
