"""Feed rows and their fetch state (conditional GET validators, failures)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from service.config.models import FeedConfig
from service.storage.database import Database, insert_ignore
from service.storage.models import FeedRow
from service.storage.records import FeedState


def _state(row: FeedRow) -> FeedState:
    return FeedState(
        id=row.id, url=row.url, name=row.name, title=row.title, enabled=row.enabled,
        etag=row.etag, last_modified=row.last_modified, last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at, last_status=row.last_status,
        last_error_kind=row.last_error_kind, last_error=row.last_error,
        consecutive_failures=row.consecutive_failures, next_poll_at=row.next_poll_at,
        items_seen=row.items_seen,
    )


class FeedStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def sync(self, feeds: Sequence[FeedConfig], now: datetime) -> dict[str, FeedState]:
        """Make sure every configured feed has a row; return their states by URL."""
        with self._db.session() as session, session.begin():
            for feed in feeds:
                session.execute(
                    insert_ignore(session, FeedRow.__table__).values(  # type: ignore[arg-type]
                        url=feed.url, name=feed.name, enabled=True, created_at=now,
                        consecutive_failures=0, items_seen=0,
                    )
                )
                session.execute(
                    update(FeedRow).where(FeedRow.url == feed.url).values(name=feed.name)
                )
        return self.states([feed.url for feed in feeds])

    def states(self, urls: Sequence[str] | None = None) -> dict[str, FeedState]:
        with self._db.session() as session:
            query = select(FeedRow).order_by(FeedRow.id)
            if urls is not None:
                query = query.where(FeedRow.url.in_(list(urls)))
            return {row.url: _state(row) for row in session.scalars(query)}

    def record_success(
        self, feed_id: int, now: datetime, *, status: int, etag: str | None,
        last_modified: str | None, title: str | None, new_items: int,
        next_poll_at: datetime,
    ) -> None:
        with self._db.session() as session, session.begin():
            row = session.get_one(FeedRow, feed_id)
            row.last_polled_at = row.last_success_at = now
            row.last_status = status
            row.etag, row.last_modified = etag, last_modified
            row.title = title or row.title
            row.items_seen += new_items
            row.consecutive_failures = 0
            row.last_error_kind = row.last_error = None
            row.next_poll_at = next_poll_at

    def record_not_modified(self, feed_id: int, now: datetime, next_poll_at: datetime) -> None:
        with self._db.session() as session, session.begin():
            row = session.get_one(FeedRow, feed_id)
            row.last_polled_at = row.last_success_at = now
            row.last_status = 304
            row.consecutive_failures = 0
            row.last_error_kind = row.last_error = None
            row.next_poll_at = next_poll_at

    def record_failure(
        self, feed_id: int, now: datetime, *, kind: str, message: str,
        status: int | None, next_poll_at: datetime,
    ) -> None:
        with self._db.session() as session, session.begin():
            row = session.get_one(FeedRow, feed_id)
            row.last_polled_at = now
            row.last_status = status
            row.last_error_kind, row.last_error = kind, message
            row.consecutive_failures += 1
            row.next_poll_at = next_poll_at
