"""Thin Celery tasks: take ids, call the pipeline, decide retries."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from celery import Task

from service.pipeline import Processor, is_transient, process_articles
from service.storage.database import Database
from workers.app import app, bound_config

PROCESS_ARTICLES = "newswatch.process_articles"


@cache
def _context() -> tuple[Database, Processor]:
    """The database and compiled watchlists of this worker process."""
    config = bound_config()
    return Database.open(config.settings.database_url), Processor.from_config(config)


def _now() -> datetime:
    return datetime.now(UTC)


@app.task(bind=True, name=PROCESS_ARTICLES, max_retries=8)  # type: ignore[untyped-decorator]
def process_articles_task(self: Task, article_ids: list[int]) -> dict[str, Any]:
    """Process a batch of stored articles; safe to run twice (idempotent)."""
    database, processor = _context()
    try:
        report = process_articles(database, processor, article_ids, _now)
    except Exception as e:
        if is_transient(e):
            raise self.retry(exc=e, countdown=min(2 ** self.request.retries, 60)) from e
        raise
    return {"processed": report.processed, "alerts": report.alerts, "dead": report.dead}
