"""Thin Celery tasks: take ids, call the pipeline, decide retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task

from service.pipeline import is_transient, process_articles
from workers.app import app, bound_config
from workers.context import current

PROCESS_ARTICLES = "newswatch.process_articles"
REDELIVERY_DELAY = 5  # seconds before articles that failed are tried again


def _now() -> datetime:
    return datetime.now(UTC)


@app.task(bind=True, name=PROCESS_ARTICLES, max_retries=8)  # type: ignore[untyped-decorator]
def process_articles_task(self: Task, article_ids: list[int]) -> dict[str, Any]:
    """Process a batch of stored articles; safe to run twice (idempotent)."""
    context = current(bound_config())
    database, processor = context.database, context.processor
    try:
        report = process_articles(database, processor, article_ids, _now)
    except Exception as e:
        if is_transient(e):
            raise self.retry(exc=e, countdown=min(2 ** self.request.retries, 60)) from e
        raise
    if report.failed_ids:  # delivered again later; the delivery count dead-letters poison
        process_articles_task.apply_async(
            args=[report.failed_ids], countdown=REDELIVERY_DELAY * (self.request.retries + 1)
        )
    return {"processed": report.processed, "alerts": report.alerts, "dead": report.dead,
            "failed": len(report.failed_ids)}
