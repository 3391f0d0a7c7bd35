"""The shared near-duplicate story index: band keys, shingles and feed segments.

Every worker reads and writes the same tables, so the index is one truth
whatever process handles an article. Claiming stays atomic: on PostgreSQL a
batch of articles takes a transaction-scoped advisory lock for each of their
band keys (folded into at most 512 locks, taken in sorted order, so two
workers never deadlock and never fill PostgreSQL's lock table) before it looks for
candidates; two copies that could find each other share a band, so the
second waits until the first has committed its story and then joins it. On
SQLite the database's single writer gives the same order.

``service.storage.processing`` writes the index inside a batch's transaction
(``service.storage.near_index`` reads it; ``service.storage.event_index``
keeps the same-event terms and prunes the index); ``StoryIndexStore`` reads
stories for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.storage.database import Database
from service.storage.models import (
    ArticleRow,
    FeedRow,
    StoryRow,
)
from service.stories import (
    EventRule,
    EventVector,
    Sketch,
    Terms,
)
from service.urls import shown_url

MAX_CANDIDATES = 20
# the index's rows from before the window go at most this often per process, after a
# batch and in a transaction of their own (service.storage.event_index.prune_if_due)
PRUNE_INTERVAL = timedelta(minutes=1)
_CHUNK = 500


@dataclass(frozen=True, slots=True, eq=False)
class SketchedArticle:
    """An article's sketch once its feed's boilerplate is known."""

    sketch: Sketch
    threshold: float
    since: datetime
    terms: Terms | None = None  # None: the same-event path is off
    vector: EventVector | None = None  # None: off, or too few documents yet
    event_rule: EventRule | None = None  # None: the same-event path is off
    text: str = ""  # the text as it came (``service.stories.substitution``)
    language: str | None = None  # the text's, as detected (None: unknown)


@dataclass(frozen=True, slots=True)
class StorySummary:
    """One line of `newswatch stories`."""

    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    article_count: int
    outlets: tuple[str, ...]  # in the order they carried the story


def encode_sketch(sketch: Sketch) -> bytes:
    """Shingles as stored: little-endian uint32."""
    return sketch.shingles.astype("<u4").tobytes()


def unique_bands(sketch: Sketch) -> npt.NDArray[np.int64]:
    """The sketch's band keys, sorted, each once: its story_bands rows."""
    return np.unique(np.fromiter(sketch.bands, dtype=np.int64, count=len(sketch.bands)))


def encode_bands(bands: npt.NDArray[np.int64]) -> bytes:
    """Band keys as stored beside the shingles: big-endian int64 (PostgreSQL's
    ``int8send``, so migration 0019p fills them in SQL), sorted, each once."""
    return bands.astype(">i8").tobytes()


def decode_bands(blob: bytes) -> npt.NDArray[np.int64]:
    return np.frombuffer(blob, dtype=">i8").astype(np.int64)


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
                found.setdefault(story, []).append(
                    (article, title, name or feed_title or shown_url(url)))
    return found


def _summary(story: StoryRow, members: list[tuple[int, str, str]]) -> StorySummary:
    outlets = tuple(dict.fromkeys(outlet for _, _, outlet in members))
    first = [t for a, t, _ in members if a == story.first_article_id]
    title = (first or [t for _, t, _ in members] or [""])[0]
    return StorySummary(
        id=story.id, title=title, created_at=story.created_at, updated_at=story.updated_at,
        article_count=story.article_count, outlets=outlets,
    )
