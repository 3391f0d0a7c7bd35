"""WebSub subscriptions: one row per feed that a hub pushes to us (migration 0008).

A row is written *before* the subscribe request goes to the hub, so the hub's
verification GET (which may arrive before its answer to our POST) finds a
request outstanding (``requested_at``). The secret stays with the row across
renewals: pushes are checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from service.storage.database import Database
from service.storage.models import Base, BigId, FeedRow, UTCDateTime


class WebSubRow(Base):
    __tablename__ = "websub_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feed_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("feeds.id"), unique=True)
    topic: Mapped[str] = mapped_column(String(2048))
    hub: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    # pending (never verified) -> active -> (denied | active again on renewal)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # awaiting verification
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class WebSubSubscription:
    id: int
    feed_id: int
    feed_url: str
    topic: str
    hub: str
    secret: str
    state: str
    requested_at: datetime | None
    verified_at: datetime | None
    lease_expires_at: datetime | None
    last_push_at: datetime | None
    last_error: str | None

    def __repr__(self) -> str:  # never print the secret
        return f"WebSubSubscription(id={self.id}, topic={self.topic!r}, state={self.state!r})"


def _record(row: WebSubRow, feed_url: str) -> WebSubSubscription:
    return WebSubSubscription(
        id=row.id, feed_id=row.feed_id, feed_url=feed_url, topic=row.topic, hub=row.hub,
        secret=row.secret, state=row.state, requested_at=row.requested_at,
        verified_at=row.verified_at, lease_expires_at=row.lease_expires_at,
        last_push_at=row.last_push_at, last_error=row.last_error,
    )


class WebSubStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def all(self) -> list[WebSubSubscription]:
        with self._db.session() as session:
            query = select(WebSubRow, FeedRow.url).join(FeedRow, FeedRow.id == WebSubRow.feed_id)
            return [_record(row, url) for row, url in session.execute(query.order_by(WebSubRow.id))]

    def get(self, subscription_id: int) -> WebSubSubscription | None:
        return next((s for s in self._by(WebSubRow.id == subscription_id)), None)

    def for_feed(self, feed_id: int) -> WebSubSubscription | None:
        return next((s for s in self._by(WebSubRow.feed_id == feed_id)), None)

    def _by(self, condition: object) -> list[WebSubSubscription]:
        with self._db.session() as session:
            query = (select(WebSubRow, FeedRow.url)
                     .join(FeedRow, FeedRow.id == WebSubRow.feed_id).where(condition))  # type: ignore[arg-type]
            return [_record(row, url) for row, url in session.execute(query)]

    def request(self, feed_id: int, topic: str, hub: str, secret: str,
                now: datetime) -> WebSubSubscription:
        """Record an outstanding subscribe request (a new row, or a renewal / a moved hub)."""
        with self._db.session() as session, session.begin():
            row = session.scalars(select(WebSubRow).where(WebSubRow.feed_id == feed_id)).first()
            if row is None:
                row = WebSubRow(feed_id=feed_id, topic=topic, hub=hub, secret=secret,
                                state="pending")
                session.add(row)
            elif (row.topic, row.hub) != (topic, hub):
                row.topic, row.hub, row.secret, row.state = topic, hub, secret, "pending"
            row.requested_at, row.last_error = now, None
            session.flush()
            subscription_id = row.id
        found = self.get(subscription_id)
        assert found is not None
        return found

    def verified(self, subscription_id: int, now: datetime, lease_expires_at: datetime) -> None:
        self._set(subscription_id, state="active", requested_at=None, verified_at=now,
                  lease_expires_at=lease_expires_at)

    def denied(self, subscription_id: int, reason: str) -> None:
        self._set(subscription_id, state="denied", requested_at=None, last_error=reason)

    def failed(self, subscription_id: int, error: str) -> None:
        self._set(subscription_id, requested_at=None, last_error=error)

    def pushed(self, subscription_id: int, now: datetime) -> None:
        self._set(subscription_id, last_push_at=now)

    def _set(self, subscription_id: int, **values: object) -> None:
        with self._db.session() as session, session.begin():
            row = session.get(WebSubRow, subscription_id)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)
