"""The shared near-duplicate story index: band keys, shingles and feed segments.

Every worker reads and writes the same tables, so the index is one truth
whatever process handles an article. Claiming stays atomic: on PostgreSQL an
article takes a transaction-scoped advisory lock on each of its band keys
(in sorted order, so two workers never deadlock) before it looks for
candidates; two copies that could find each other share a band, so the
second waits until the first has committed its story and then joins it. On
SQLite the database's single writer gives the same order.

The functions taking a ``Session`` run inside ``ArticleStore.commit_processed``'s
transaction; ``StoryIndexStore`` reads stories for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger

from service.storage.database import Database, insert_ignore
from service.storage.models import (
    ArticleRow,
    ArticleSketchRow,
    FeedRow,
    FeedSegmentRow,
    StoryBandRow,
    StoryRow,
)
from service.stories import (
    Candidate,
    NearDuplicate,
    Shingles,
    Sketch,
    article_sketch,
    best_story,
)

MAX_CANDIDATES = 20
_CHUNK = 500
_LOCK_BANDS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS t(k)"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger())))


@dataclass(frozen=True, slots=True, eq=False)
class SketchedArticle:
    """An article's sketch once its feed's boilerplate is known."""

    sketch: Sketch
    threshold: float
    since: datetime


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
    sketch = article_sketch(list(near.parts), boilerplate)
    lock_bands(session, sketch)
    return SketchedArticle(sketch, near.threshold, near.since)


def lock_bands(session: Session, sketch: Sketch) -> None:
    """Serialise claims of articles that share a band key (PostgreSQL)."""
    if sketch.bands and session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_BANDS, {"keys": sorted(set(sketch.bands))})


def find_near_story(session: Session, near: SketchedArticle, own_story: int) -> int | None:
    """The recent story that already holds a near copy of this article, if any."""
    if not near.sketch.bands:
        return None
    candidates = _candidates(session, near, own_story)
    return best_story(near.sketch.shingles, candidates, near.threshold)


def _candidates(session: Session, near: SketchedArticle, own_story: int) -> list[Candidate]:
    hits = func.count().label("hits")
    query = (
        select(StoryBandRow.article_id, ArticleRow.story_id, hits)
        .join(ArticleRow, ArticleRow.id == StoryBandRow.article_id)
        .join(StoryRow, StoryRow.id == ArticleRow.story_id)
        .where(StoryBandRow.band.in_(sorted(set(near.sketch.bands))))
        .where(StoryRow.updated_at >= near.since, StoryRow.id != own_story)
        .group_by(StoryBandRow.article_id, ArticleRow.story_id)
        .order_by(hits.desc(), StoryBandRow.article_id)
        .limit(MAX_CANDIDATES)
    )
    stories = {a: s for a, s, _ in session.execute(query) if s is not None}
    if not stories:
        return []
    rows = session.execute(
        select(ArticleSketchRow.article_id, ArticleSketchRow.shingles)
        .where(ArticleSketchRow.article_id.in_(stories))
    )
    return [Candidate(a, stories[a], _decode(blob)) for a, blob in rows]


def index_article(session: Session, article_id: int, sketch: Sketch, now: datetime) -> None:
    """Add the article's band keys and shingles to the shared index (idempotent)."""
    if sketch.empty:
        return
    session.execute(
        insert_ignore(session, ArticleSketchRow.__table__)  # type: ignore[arg-type]
        .values(article_id=article_id, shingles=encode_sketch(sketch), created_at=now)
    )
    session.execute(
        insert_ignore(session, StoryBandRow.__table__),  # type: ignore[arg-type]
        [{"band": band, "article_id": article_id} for band in sorted(set(sketch.bands))],
    )


def encode_sketch(sketch: Sketch) -> bytes:
    """Shingles as stored: little-endian uint32."""
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
    query = select(FeedSegmentRow.fingerprint).where(
        FeedSegmentRow.feed_id == feed_id,
        FeedSegmentRow.fingerprint.in_(chunk),
        FeedSegmentRow.article_id != article_id,
    )
    return list(session.scalars(query))


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
