"""Articles: new entries in, one transaction per processed article out.

``commit_processed`` is where exactly-once lives: the article's story keys,
its matches and its outbox rows are written in one transaction, and the
unique keys make a second run of the same work a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.orm import Session

from service.domain import Classification, FeedEntry, Match
from service.storage.database import Database, insert_ignore
from service.storage.models import AlertRow, ArticleRow, FeedRow, MatchRow, StoryKeyRow, StoryRow
from service.storage.records import ArticleRecord
from service.storage.stories import (
    SketchedArticle,
    find_near_story,
    index_article,
    prepare_near,
)
from service.stories import NearDuplicate
from service.urls import canonical_or_none

_MAX_GUID = 512
_ARTICLES: Table = ArticleRow.__table__  # type: ignore[assignment]  # Core writes


def entry_guid(entry: FeedEntry) -> str:
    """The entry's identity within its feed: GUID, else link, else a text hash."""
    guid = (entry.guid or entry.url or "").strip()
    if not guid:
        text = f"{entry.title}\n{entry.summary}\n{entry.content}"
        guid = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    if len(guid) > _MAX_GUID:
        guid = "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
    return guid


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    """What the worker learnt about an article's text besides its matches."""

    language: str | None = None
    full_text: str | None = None
    full_text_error: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessedOutcome:
    story_id: int
    duplicate: bool
    alerts_created: int


class ArticleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add_entries(
        self, feed_id: int, entries: Sequence[FeedEntry], now: datetime,
        connection: Connection | None = None,
    ) -> list[int]:
        """Store entries not seen before in this feed; return the new article ids.

        Core, not the ORM (a changed feed's most frequent write, kept cheap);
        within ``connection``'s transaction when given (the poll's record joins it).
        """
        rows = _unique_rows(_entry_values(feed_id, entry, now) for entry in entries)
        if not rows:
            return []
        if connection is None:
            with self._db.engine.begin() as own:
                return self.add_entries(feed_id, entries, now, own)
        statement = _insert_entries(connection.dialect.name, connection)
        # executemany: SQLAlchemy sends multi-row INSERT ... RETURNING batches
        new_ids = list(connection.execute(statement, rows).scalars())
        return sorted(new_ids)  # ids grow in insertion order: the entries' order

    def ids_in_state(self, state: str, limit: int = 10_000) -> list[int]:
        with self._db.session() as session:
            query = select(ArticleRow.id).where(ArticleRow.state == state).order_by(ArticleRow.id)
            return list(session.scalars(query.limit(limit)))

    def stale_new_ids(self, fetched_before: datetime, limit: int = 10_000) -> list[int]:
        """Articles still waiting long after they were stored (a lost batch or task)."""
        with self._db.session() as session:
            query = (
                select(ArticleRow.id)
                .where(ArticleRow.state == "new", ArticleRow.fetched_at < fetched_before)
                .order_by(ArticleRow.id)
                .limit(limit)
            )
            return list(session.scalars(query))

    def unsettled(self, ids: Iterable[int]) -> list[int]:
        """Those of ``ids`` still waiting to be processed (or dead-lettered)."""
        id_list = list(ids)
        waiting: list[int] = []
        with self._db.session() as session:
            for start in range(0, len(id_list), 500):
                chunk = id_list[start : start + 500]
                query = select(ArticleRow.id).where(
                    ArticleRow.id.in_(chunk), ArticleRow.state == "new"
                )
                waiting.extend(session.scalars(query))
        return waiting

    def begin_attempt(self, article_id: int) -> ArticleRecord | None:
        """Count one more delivery of a new article and return it (None if done)."""
        with self._db.session() as session, session.begin():
            row = _locked_article(session, article_id)
            if row is None or row.state != "new":
                return None
            row.attempts += 1
            feed = session.get_one(FeedRow, row.feed_id)
            return _record(row, feed)

    def record_error(self, article_id: int, error: str) -> None:
        with self._db.session() as session, session.begin():
            session.execute(
                update(ArticleRow).where(ArticleRow.id == article_id).values(last_error=error)
            )

    def commit_processed(
        self, article_id: int, *, story_keys: Sequence[str], classification: Classification,
        subscription_ids: Sequence[str], now: datetime, analysis: TextAnalysis | None = None,
        near: NearDuplicate | None = None,
    ) -> ProcessedOutcome | None:
        """Join or start a story, store matches and outbox rows, all at once."""
        with self._db.session() as session, session.begin():
            row = _locked_article(session, article_id)
            if row is None or row.state != "new":
                return None
            # before any key: learns boilerplate, locks bands so meeting claims serialise
            sketched = prepare_near(session, row, near) if near is not None else None
            story_id, duplicate = _claim_story(session, row, story_keys, now, sketched)
            if sketched is not None:
                index_article(session, article_id, sketched, now)
            row.story_id = story_id
            row.state = "duplicate" if duplicate else "processed"
            row.processed_at = now
            row.last_error = None
            if analysis is not None:
                row.language = analysis.language
                row.full_text = analysis.full_text
                row.full_text_error = analysis.full_text_error
            _insert_matches(session, article_id, classification.matches)
            created = _insert_alerts(session, story_id, article_id, subscription_ids, now)
            return ProcessedOutcome(story_id, duplicate, created)


_INSERTS: dict[str, Any] = {}  # per dialect: built once, only bound per changed feed


def _insert_entries(dialect: str, connection: Connection) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id for new entries."""
    statement = _INSERTS.get(dialect)
    if statement is None:
        statement = insert_ignore(connection, _ARTICLES).returning(_ARTICLES.c.id)
        _INSERTS[dialect] = statement
    return statement


def _unique_rows(rows: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    """The first row of each GUID (a feed listing one entry twice keeps the first)."""
    first: dict[object, dict[str, object]] = {}
    for row in rows:
        first.setdefault(row["guid"], row)
    return list(first.values())


def _entry_values(feed_id: int, entry: FeedEntry, now: datetime) -> dict[str, object]:
    return {
        "feed_id": feed_id, "guid": entry_guid(entry), "url": entry.url,
        "canonical_url": canonical_or_none(entry.url), "title": entry.title,
        "summary": entry.summary, "content": entry.content, "author": entry.author,
        "published_at": entry.published, "fetched_at": now, "state": "new", "attempts": 0,
    }


def _locked_article(session: Session, article_id: int) -> ArticleRow | None:
    query = select(ArticleRow).where(ArticleRow.id == article_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _record(row: ArticleRow, feed: FeedRow) -> ArticleRecord:
    return ArticleRecord(
        id=row.id, feed_id=row.feed_id, feed_name=feed.name or feed.title or feed.url,
        guid=row.guid, url=row.url, canonical_url=row.canonical_url, title=row.title,
        summary=row.summary, content=row.content, published_at=row.published_at,
        fetched_at=row.fetched_at, attempts=row.attempts, feed_url=feed.url,
        last_error=row.last_error,
    )


def _claim_story(
    session: Session, row: ArticleRow, keys: Sequence[str], now: datetime,
    near: SketchedArticle | None = None,
) -> tuple[int, bool]:
    """Claim the article's keys for a new story, or join the story that owns one.

    Insert-or-ignore on the key table is atomic: when two workers claim the
    same key at once, the second waits for the first and then finds its story.
    """
    story = StoryRow(first_article_id=row.id, created_at=now, updated_at=now, article_count=1)
    session.add(story)
    session.flush()
    hashed = sorted({hashlib.sha256(key.encode()).hexdigest() for key in keys})
    for key in hashed:
        session.execute(
            insert_ignore(session, StoryKeyRow.__table__)  # type: ignore[arg-type]
            .values(key=key, story_id=story.id)
        )
    owners = set(session.scalars(select(StoryKeyRow.story_id).where(StoryKeyRow.key.in_(hashed))))
    others = sorted(owners - {story.id})
    if not others and near is not None:  # no exact key: a near copy in the window?
        others = [s for s in [find_near_story(session, near, story.id)] if s is not None]
    if not others:
        return story.id, False
    target = others[0]
    session.execute(
        update(StoryKeyRow).where(StoryKeyRow.story_id == story.id).values(story_id=target)
    )
    session.delete(story)
    session.execute(
        update(StoryRow)
        .where(StoryRow.id == target)
        .values(article_count=StoryRow.article_count + 1, updated_at=now)
    )
    return target, True


def _insert_matches(session: Session, article_id: int, matches: Sequence[Match]) -> None:
    for match in matches:
        session.execute(
            insert_ignore(session, MatchRow.__table__).values(  # type: ignore[arg-type]
                article_id=article_id, kind=match.kind, ref_id=match.id, name=match.name,
                evidence=[
                    {"field": e.field, "sentence": e.sentence, "spans": [list(s) for s in e.spans]}
                    for e in match.evidence
                ],
                participants=list(match.participants),
            )
        )


def _insert_alerts(
    session: Session, story_id: int, article_id: int, subscription_ids: Sequence[str],
    now: datetime,
) -> int:
    created = 0
    for subscription_id in subscription_ids:
        result = session.execute(
            insert_ignore(session, AlertRow.__table__)  # type: ignore[arg-type]
            .values(
                subscription_id=subscription_id, story_id=story_id, article_id=article_id,
                state="pending", delivered=[], attempts=0, created_at=now, next_attempt_at=now,
            )
            .returning(AlertRow.id)
        )
        created += result.scalar_one_or_none() is not None
    return created
