"""What a `newswatch run` process shows ops: its web listener, readiness and metrics.

The run loop (``runner``) decides and does the work; this module only turns
it into what ops see: the ops endpoints and web face started on
``web.host``:``web.port`` (or a warning when WebSub needs them and they are
off), readiness from the database and broker, the totals ``/metrics`` reads
at scrape time, and the counters a finished send pass or poll adds to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.exceptions import RedisError

from service import broker
from service.config.models import WebSettings
from service.dispatch import CeleryDispatcher, EmbeddedDispatcher
from service.errors import NewswatchError
from service.health import HealthChecker
from service.metrics import Metrics, StateCounts
from service.notify.sender import SendReport
from service.polling import PollOutcome
from service.storage import stats
from service.storage.database import Database
from service.web import WebContext, WebServer
from service.webui import check_access

log = structlog.get_logger("newswatch.run")


async def start_web(settings: WebSettings, context: Callable[[], WebContext], *,
                    websub: bool) -> WebServer | None:
    """The ops endpoints and web face listening, or None when ``web.enabled`` is off."""
    if not settings.enabled:
        if websub:
            log.warning("websub.callback_url is set but web.enabled is false: "
                        "hubs cannot verify or push; feeds are polled")
        return None
    check_access(settings.host, settings.token)
    server = WebServer(context(), settings.host, settings.port)
    try:
        port = await server.start()
    except OSError as e:
        raise NewswatchError(
            f"cannot serve /healthz, /readyz, /metrics on {settings.host}:{settings.port}: "
            f"{e.strerror or e} (set web.port, or web.enabled: false)"
        ) from e
    log.info("ops endpoints listening", url=f"http://{settings.host}:{port}/",
             endpoints="/healthz /readyz /metrics")
    return server


def readiness(database: Database, broker_url: str | None) -> list[str]:
    """Why this process cannot work right now (database, broker); empty when ready."""
    return HealthChecker(database.engine, broker_url).problems()


def state_counts(database: Database, dispatcher: EmbeddedDispatcher | CeleryDispatcher,
                 broker_url: str | None) -> StateCounts:
    """What the database and the queue hold now (read when ``/metrics`` is scraped)."""
    depth = None
    if isinstance(dispatcher, EmbeddedDispatcher):
        depth = dispatcher.queued
    elif broker_url:
        with contextlib.suppress(RedisError):
            depth = broker.queue_depth(broker_url)
    return StateCounts(
        articles=stats.article_counts(database), alerts=stats.alert_counts(database),
        stories=stats.story_count(database), feeds=stats.feed_counts(database),
        queue_depth=depth,
    )


def observe_sends(metrics: Metrics, report: SendReport) -> None:
    for outcome in ("sent", "failed", "dead", "held", "digested", "deferred"):
        count = getattr(report, outcome)
        if count:
            metrics.alerts.labels(outcome).inc(count)
    for seconds in report.latencies:  # what this process sent; workers observe theirs
        metrics.seen_to_sent.observe(seconds)


def observe_poll(metrics: Metrics, task: asyncio.Task[PollOutcome]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    outcome = task.result()
    metrics.polls.labels(outcome.status).inc()
    metrics.new_entries.inc(outcome.new_entries)
    if outcome.error_kind:
        metrics.fetch_errors.labels(outcome.error_kind).inc()
