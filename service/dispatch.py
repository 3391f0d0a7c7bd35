"""Where new article ids go: processed in-process (embedded) or queued to Celery.

This is the one module of ``service`` that imports ``workers``: embedded mode
calls the same pipeline function the Celery task calls, in one worker thread
(SQLite has one writer); distributed mode enqueues batches for
``celery -A workers worker`` and waits on the database for them to settle.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

import structlog
from kombu.exceptions import OperationalError as BrokerError

from service.config.models import Config
from service.pipeline import BatchReport, Processor, is_transient, process_articles
from service.storage.articles import ArticleStore
from service.storage.database import Database

log = structlog.get_logger("newswatch.dispatch")

BATCH_SIZE = 100
COALESCE_SECONDS = 0.05  # distributed: how long submitted ids wait for others to share a task
STALL_REQUEUE = 30.0  # seconds without progress before --once enqueues the rest again
TRANSIENT_RETRIES = 10  # about five minutes of database outage, backing off


class Dispatcher(Protocol):
    def submit(self, article_ids: Sequence[int]) -> None: ...

    async def drain(self, timeout: float) -> int:
        """Wait until everything submitted is processed; return how many are not."""
        ...

    def close(self) -> None: ...


def batches(ids: Sequence[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class EmbeddedDispatcher:
    """Runs the task code in this process, one batch at a time.

    Ids wait in one list and each batch takes up to ``BATCH_SIZE`` of them, so
    the entries of feeds polled while a batch runs are processed together
    (a feed of 25 new entries used to be a batch, and a transaction, of its own).
    """

    def __init__(
        self, database: Database, processor: Processor, now: Callable[[], datetime]
    ) -> None:
        self._database = database
        self._processor = processor
        self._now = now
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newswatch-work")
        self._pending: set[Future[None]] = set()
        self._waiting: list[int] = []  # submitted, not yet taken by a batch
        self._in_batch = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.report = BatchReport()
        self.on_batch_done: Callable[[], None] | None = None  # e.g. wake the sender

    @property
    def queued(self) -> int:
        """Batches waiting or running."""
        with self._lock:
            return -(-len(self._waiting) // BATCH_SIZE) + (1 if self._in_batch else 0)

    def set_processor(self, processor: Processor) -> None:
        self._processor = processor

    def submit(self, article_ids: Sequence[int]) -> None:
        if not article_ids:
            return
        with self._lock:
            self._waiting.extend(article_ids)
            future = self._executor.submit(self._run)
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _run(self) -> None:
        """Process batches until nothing waits (a later submission's run may find
        its ids taken already: then it has nothing to do)."""
        while batch := self._take():
            try:
                report = self._process(batch)
            except Exception as e:
                log.error("batch failed; its articles stay queued and are swept up again",
                          error=str(e))
                continue
            finally:
                with self._lock:
                    self._in_batch = 0
            self.report.add(report)
            if report.failed_ids:  # again; the delivery count dead-letters poison entries
                with self._lock:
                    self._waiting.extend(report.failed_ids)
            if self.on_batch_done is not None:
                self.on_batch_done()

    def _take(self) -> list[int]:
        with self._lock:
            batch = self._waiting[:BATCH_SIZE]
            del self._waiting[:BATCH_SIZE]
            self._in_batch = len(batch)
            return batch

    def _process(self, batch: list[int]) -> BatchReport:
        """The task body, retried with backoff while the database is unreachable
        (as Celery retries the task in distributed mode)."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return process_articles(self._database, self._processor, batch, self._now)
            except Exception as e:
                if not is_transient(e) or attempt == TRANSIENT_RETRIES - 1:
                    raise
                delay = min(2.0 ** attempt, 30.0)
                log.warning("database unavailable; batch retried", delay=delay, error=str(e))
                if self._closing.wait(delay):
                    raise
        raise AssertionError("unreachable")

    async def drain(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self._pending and (left := deadline - time.monotonic()) > 0:
            pending = [asyncio.wrap_future(f) for f in list(self._pending)]
            await asyncio.wait(pending, timeout=left)
        with self._lock:
            return len(self._waiting) + self._in_batch

    def close(self) -> None:
        self._closing.set()
        self._executor.shutdown(wait=True)


class CeleryDispatcher:
    """Enqueues batches of ids to Redis for the Celery workers.

    Ids submitted within ``COALESCE_SECONDS`` of each other (the feeds of one
    polling round) share tasks of up to ``BATCH_SIZE``: fewer messages for the
    broker and the workers' pools, and fewer transactions, than a task per
    feed. Called from the event loop (without one, a submission is sent at
    once).
    """

    def __init__(self, config: Config, database: Database, *, track: bool) -> None:
        import workers
        from workers.tasks import process_articles_task

        workers.bind(config)
        self._task = process_articles_task
        self._articles = ArticleStore(database)
        self._track = track  # remember ids to wait for them (run --once only)
        self._submitted: set[int] = set()
        self._waiting: list[int] = []  # submitted, not sent yet
        self._timer: asyncio.TimerHandle | None = None

    def submit(self, article_ids: Sequence[int]) -> None:
        if self._track:
            self._submitted.update(article_ids)
        self._waiting.extend(article_ids)
        while len(self._waiting) >= BATCH_SIZE:
            self._task.apply_async(args=[self._waiting[:BATCH_SIZE]])
            del self._waiting[:BATCH_SIZE]
        if not self._waiting or self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
        else:
            self._timer = loop.call_later(COALESCE_SECONDS, self.flush)

    def flush(self) -> None:
        """Send what waits now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for batch in batches(self._waiting):
            self._task.apply_async(args=[batch])
        self._waiting.clear()

    async def drain(self, timeout: float) -> int:
        """Wait for the workers; when nothing settles for a while, enqueue what is
        left again (a task lost with a broker restart waits for Redis' visibility
        timeout otherwise). Processing is idempotent, so a copy is harmless."""
        self.flush()
        deadline = time.monotonic() + timeout
        interval, last_count, last_progress = 0.05, -1, time.monotonic()
        while True:
            checked = sorted(self._submitted)
            waiting = await asyncio.to_thread(self._articles.unsettled, checked)
            settle(self._submitted, checked, waiting)
            now = time.monotonic()
            if not waiting or now >= deadline:
                return len(waiting)
            if len(waiting) != last_count:
                log.info("waiting for workers", unprocessed=len(waiting))
                last_count, last_progress = len(waiting), now
            elif now - last_progress >= STALL_REQUEUE:
                log.warning("no progress; enqueueing the waiting entries again",
                            unprocessed=len(waiting), stalled_seconds=round(now - last_progress))
                self.submit(waiting)
                last_progress = now
            await asyncio.sleep(interval)
            interval = min(interval * 2, 1.0)

    def close(self) -> None:
        try:
            self.flush()
        except BrokerError as e:  # still "new" in the database: the next start resumes them
            log.warning("entries not handed to the workers", count=len(self._waiting),
                        error=str(e))


def settle(tracked: set[int], checked: Sequence[int], waiting: Sequence[int]) -> None:
    """Forget the ids of ``checked`` that are no longer ``waiting``: a processed (or
    dead-lettered) article never waits again, so the next check asks only about the
    rest (checking all the run's ids every round was the run process's largest cost
    while it waited: thousands of ids bound one by one per round)."""
    tracked.difference_update(set(checked).difference(waiting))


def make_dispatcher(
    config: Config, database: Database, processor: Processor, now: Callable[[], datetime],
    *, track: bool,
) -> EmbeddedDispatcher | CeleryDispatcher:
    """In-process work without a broker; Celery with one (``track``: --once waits)."""
    if config.settings.broker_url:
        return CeleryDispatcher(config, database, track=track)
    return EmbeddedDispatcher(database, processor, now)
