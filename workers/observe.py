"""Prometheus metrics of a Celery worker: what its tasks did, served on its health port.

Tasks run in Celery's pool processes, forked from the worker's main process,
which serves ``/metrics`` beside ``/healthz`` and ``/readyz``. prometheus_client's
multiprocess mode joins them: before the pool forks, the main process points
every metric value at files in a directory of its own
(``PROMETHEUS_MULTIPROC_DIR``, else a fresh temporary one), each pool process
writes its counters there, and a scrape of the main process sums the files.
Without ``prepare_multiprocess`` (a task called in-process, as tests and the
embedded mode do) the values simply stay in that process.

Totals that other processes change too (articles by state, alerts in the
outbox) are the run process's ``/metrics``; a worker counts its own work,
and observes the entry-to-alert latency of each alert it sent itself
(``newswatch_entry_to_alert_seconds``, as the run process does for its own
sends: sum the two across targets for every alert).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client import multiprocess as multiprocess_mode

from service.metrics import LATENCY_BUCKETS
from service.notify.sender import SendReport
from service.pipeline import BatchReport

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    articles: Counter
    stories: Counter
    alerts_created: Counter
    alerts: Counter
    batch_seconds: Histogram
    batch_size: Histogram
    seen_to_sent: Histogram


@lru_cache(maxsize=1)
def metrics() -> WorkerMetrics:
    """The worker's instruments, made on first use (after the pool forked)."""
    r = CollectorRegistry()  # values live in the multiprocess files when prepared
    return WorkerMetrics(
        registry=r,
        articles=Counter("newswatch_worker_articles", "Articles handled by this worker's tasks",
                         ["outcome"], registry=r),
        stories=Counter("newswatch_worker_stories",
                        "New stories started by this worker's articles", registry=r),
        alerts_created=Counter("newswatch_worker_alerts_created",
                               "Alerts put in the outbox by this worker", registry=r),
        alerts=Counter("newswatch_worker_alerts_delivery",
                       "Alert delivery outcomes of this worker's sends", ["outcome"], registry=r),
        batch_seconds=Histogram("newswatch_worker_batch_seconds",
                                "Time to process one batch of articles (one task)",
                                buckets=TASK_BUCKETS, registry=r),
        batch_size=Histogram("newswatch_worker_batch_articles", "Articles per batch",
                             buckets=(1, 5, 10, 25, 50, 100, 250, 500), registry=r),
        seen_to_sent=Histogram("newswatch_entry_to_alert_seconds",
                               "From entry stored to its alert sent (alerts this worker sent)",
                               buckets=LATENCY_BUCKETS, registry=r),
    )


@contextmanager
def observe_batch() -> Iterator[Callable[[BatchReport], None]]:
    """Time a batch; call the yielded function with its report to count it."""
    started = time.perf_counter()

    def observe(report: BatchReport) -> None:
        m = metrics()
        m.batch_seconds.observe(time.perf_counter() - started)
        total = report.processed + report.skipped + report.dead + len(report.failed_ids)
        m.batch_size.observe(total)
        for outcome, count in (("processed", report.processed - report.duplicates),
                               ("duplicate", report.duplicates), ("skipped", report.skipped),
                               ("dead", report.dead), ("failed", len(report.failed_ids))):
            if count:
                m.articles.labels(outcome).inc(count)
        m.stories.inc(report.processed - report.duplicates)
        m.alerts_created.inc(report.alerts)

    yield observe


def observe_sends(report: SendReport) -> None:
    m = metrics()
    for outcome in ("sent", "failed", "dead", "held", "digested"):
        count = getattr(report, outcome)
        if count:
            m.alerts.labels(outcome).inc(count)
    for seconds in report.latencies:
        m.seen_to_sent.observe(seconds)


_created: Path | None = None  # the directory prepare_multiprocess made (removed at the end)


def prepare_multiprocess() -> Path:
    """In the worker's main process, before the pool forks: values go to files
    (in ``PROMETHEUS_MULTIPROC_DIR`` when ops name one, else a temporary directory
    of this worker's own, removed by ``remove_multiprocess`` when it stops)."""
    global _created
    named = os.environ.get(MULTIPROC_ENV)
    directory = Path(named or tempfile.mkdtemp(prefix="newswatch-worker-metrics-"))
    _created = None if named else directory
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's counts are not ours
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


def remove_multiprocess() -> None:
    """At the worker's end: its own temporary metrics directory goes (a worker
    restarted for months would otherwise leave one behind each time)."""
    global _created
    if _created is not None:
        shutil.rmtree(_created, ignore_errors=True)
        if os.environ.get(MULTIPROC_ENV) == str(_created):
            del os.environ[MULTIPROC_ENV]
        _created = None


def pool_process_exited(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess_mode.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """The text a scrape of the worker gets: every pool process's values summed."""
    if not os.environ.get(MULTIPROC_ENV):  # not prepared: this process's own instruments
        return generate_latest(metrics().registry)
    registry = CollectorRegistry()
    multiprocess_mode.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
