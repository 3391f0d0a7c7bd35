"""Thin Celery tasks: take ids, call the pipeline, decide retries; send what they made.

A batch that created alerts kicks ``send_alerts`` right after its commit, so an
alert leaves within moments of its entry in distributed mode too, instead of at
the run process's next sender pass; any idle worker takes it. Claims in the
outbox are leased (SKIP LOCKED), so the run process's sender, still the backstop
for retries, quiet hours and digests, never sends an alert a worker sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task
from sqlalchemy.exc import SQLAlchemyError

from service.errors import StorageError
from service.pipeline import is_transient, process_articles
from workers.app import app, bound_config
from workers.context import current
from workers.observe import observe_batch, observe_sends

PROCESS_ARTICLES = "newswatch.process_articles"
SEND_ALERTS = "newswatch.send_alerts"
REDELIVERY_DELAY = 5  # seconds before articles that failed are tried again


def _now() -> datetime:
    return datetime.now(UTC)


@app.task(bind=True, name=PROCESS_ARTICLES, max_retries=8)  # type: ignore[untyped-decorator]
def process_articles_task(self: Task, article_ids: list[int]) -> dict[str, Any]:
    """Process a batch of stored articles; safe to run twice (idempotent)."""
    context = current(bound_config())
    database, processor = context.database, context.processor
    try:
        with observe_batch() as observe:
            report = process_articles(database, processor, article_ids, _now)
            observe(report)
    except Exception as e:
        if is_transient(e):
            raise self.retry(exc=e, countdown=min(2 ** self.request.retries, 60)) from e
        raise
    if report.failed_ids:  # delivered again later; the delivery count dead-letters poison
        process_articles_task.apply_async(
            args=[report.failed_ids], countdown=REDELIVERY_DELAY * (self.request.retries + 1)
        )
    if report.alerts:
        send_alerts_task.apply_async()
    return {"processed": report.processed, "alerts": report.alerts, "dead": report.dead,
            "failed": len(report.failed_ids)}


@app.task(name=SEND_ALERTS)  # type: ignore[untyped-decorator]
def send_alerts_task() -> dict[str, Any]:
    """Send the alerts that are due now (the run process retries what fails here)."""
    context = current(bound_config())
    try:
        report = context.sender.send_due(_now)
    except (StorageError, SQLAlchemyError) as e:  # the run process's pass sends them
        return {"error": str(e)}
    observe_sends(report)
    return {"sent": report.sent, "failed": report.failed, "dead": report.dead}
