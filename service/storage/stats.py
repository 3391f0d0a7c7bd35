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
