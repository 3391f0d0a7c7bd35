"""The alert outbox: claim what is due, mark sent only after success."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.domain import Evidence, Match, MatchKind
from service.storage.database import Database
from service.storage.models import AlertRow, ArticleRow, FeedRow, MatchRow
from service.storage.records import AlertSummary, AlertView


def _evidence(data: dict[str, Any]) -> Evidence:
    spans = tuple((int(s[0]), int(s[1])) for s in data.get("spans", []))
    return Evidence(field=str(data["field"]), sentence=str(data["sentence"]), spans=spans)


def _match(row: MatchRow) -> Match:
    kind: MatchKind = row.kind  # type: ignore[assignment]
    return Match(
        kind=kind, id=row.ref_id, name=row.name,
        evidence=tuple(_evidence(e) for e in row.evidence),
        participants=tuple(row.participants),
    )


class AlertStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def due(
        self, now: datetime, *, limit: int = 100, ignore_schedule: bool = False
    ) -> list[AlertView]:
        """Pending alerts whose next attempt is due (all pending ones if asked)."""
        with self._db.session() as session:
            query = select(AlertRow).where(AlertRow.state == "pending")
            if not ignore_schedule:
                query = query.where(AlertRow.next_attempt_at <= now)
            rows = session.scalars(query.order_by(AlertRow.id).limit(limit)).all()
            return [_view(session, row) for row in rows]

    def mark_sent(self, alert_id: int, now: datetime, delivered: Sequence[int]) -> None:
        with self._db.session() as session, session.begin():
            row = session.get_one(AlertRow, alert_id)
            row.state, row.sent_at, row.delivered = "sent", now, list(delivered)
            row.attempts += 1
            row.last_error = None

    def mark_failed(
        self, alert_id: int, *, error: str, delivered: Sequence[int],
        next_attempt_at: datetime, dead: bool,
    ) -> None:
        """Record a failed attempt; it stays pending (or dead after the last try)."""
        with self._db.session() as session, session.begin():
            row = session.get_one(AlertRow, alert_id)
            row.attempts += 1
            row.last_error = error
            row.delivered = list(delivered)
            row.next_attempt_at = next_attempt_at
            row.state = "dead" if dead else "pending"

    def recent(self, since: datetime, limit: int = 500) -> list[AlertSummary]:
        with self._db.session() as session:
            query = (
                select(AlertRow, ArticleRow, FeedRow)
                .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
                .join(FeedRow, FeedRow.id == ArticleRow.feed_id)
                .where(or_(AlertRow.created_at >= since, AlertRow.state == "pending"))
                .order_by(AlertRow.id.desc())
                .limit(limit)
            )
            return [
                AlertSummary(
                    id=a.id, subscription_id=a.subscription_id, state=a.state,
                    attempts=a.attempts, created_at=a.created_at, sent_at=a.sent_at,
                    last_error=a.last_error, title=art.title, source=_outlet(feed),
                )
                for a, art, feed in session.execute(query)
            ]


def _outlet(feed: FeedRow) -> str:
    return feed.name or feed.title or feed.url


def _view(session: Session, alert: AlertRow) -> AlertView:
    article = session.get_one(ArticleRow, alert.article_id)
    feed = session.get_one(FeedRow, article.feed_id)
    matches = session.scalars(
        select(MatchRow).where(MatchRow.article_id == article.id).order_by(MatchRow.id)
    ).all()
    return AlertView(
        id=alert.id, subscription_id=alert.subscription_id, story_id=alert.story_id,
        attempts=alert.attempts, delivered=tuple(alert.delivered), title=article.title,
        url=article.url, source=_outlet(feed), published_at=article.published_at,
        matches=tuple(_match(m) for m in matches),
        other_outlets=_other_outlets(session, alert.story_id, feed.id),
    )


def _other_outlets(session: Session, story_id: int, feed_id: int) -> tuple[str, ...]:
    query = (
        select(FeedRow)
        .join(ArticleRow, ArticleRow.feed_id == FeedRow.id)
        .where(ArticleRow.story_id == story_id, FeedRow.id != feed_id)
        .distinct()
    )
    return tuple(sorted({_outlet(feed) for feed in session.scalars(query)}))
