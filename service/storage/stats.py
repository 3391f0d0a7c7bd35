"""Totals for metrics and status: counts by state, read in one short session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from service.storage.database import Database
from service.storage.models import AlertRow, ArticleRow, FeedRow, StoryRow


def _grouped(database: Database, column: ColumnElement[Any] | Any, table: type) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(select(column, func.count()).select_from(table).group_by(column))
        return {str(key): int(count) for key, count in rows}


def article_counts(database: Database) -> dict[str, int]:
    return _grouped(database, ArticleRow.state, ArticleRow)


def alert_counts(database: Database) -> dict[str, int]:
    return _grouped(database, AlertRow.state, AlertRow)


def feed_counts(database: Database) -> dict[str, int]:
    health = case(
        (FeedRow.enabled.is_(False), "disabled"),
        (FeedRow.consecutive_failures > 0, "failing"),
        (FeedRow.last_success_at.is_(None), "new"),
        else_="ok",
    )
    return _grouped(database, health, FeedRow)


def story_count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(StoryRow)) or 0)


def sent_latencies(database: Database, after_id: int) -> list[tuple[int, float]]:
    """(alert id, seconds from its entry stored to the alert sent) of alerts sent
    with an id above ``after_id``; the metrics' entry-to-alert histogram."""
    with database.session() as session:
        rows = session.execute(
            select(AlertRow.id, ArticleRow.fetched_at, AlertRow.sent_at)
            .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
            .where(AlertRow.id > after_id, AlertRow.state == "sent")
            .order_by(AlertRow.id)
        )
        return [(alert_id, (sent - fetched).total_seconds())
                for alert_id, fetched, sent in rows if sent is not None]


def last_alert_id(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.max(AlertRow.id))) or 0)
