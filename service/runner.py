"""`newswatch run`: the pollers, the task work (embedded mode) and the alert sender.

    open the database (migrations applied)      exit non-zero if unreachable
    compile watchlists, build notify channels   exit non-zero if invalid
    make sure every configured feed has a row
    hand on entries left unprocessed last time
    --once:   poll every feed, wait for the work, send alerts, exit 0 (digests
              not yet due wait for a later run, unless --flush-digests)
    forever:  poll each feed when due, send alerts as they come, until a signal

What ops see of it (web listener, readiness, metrics) is ``run_surface``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from service import __version__, broker, run_surface
from service.config import ConfigError
from service.config.models import Config, FeedConfig
from service.dispatch import CeleryDispatcher, EmbeddedDispatcher, make_dispatcher
from service.errors import NewswatchError, StorageError
from service.metrics import Metrics, StateCounts
from service.notify.ops import OpsNotifier
from service.notify.recipients import alert_sender
from service.notify.sender import SendReport, Waiting
from service.pipeline import BatchReport, Processor, warm_up
from service.poll_resources import PollParts, PollResources, settle_heap
from service.poller.queue import PollQueue
from service.polling import (
    PollContext,
    PollOutcome,
    announce_unannounced,
    poll_if_due,
    poll_many,
)
from service.reload import config_changes
from service.storage.articles import ArticleStore
from service.storage.database import Database
from service.storage.feeds import FeedStore
from service.storage.ops_messages import OpsOutbox
from service.storage.websub import WebSubStore
from service.upkeep import upkeep_until
from service.urls import shown_url
from service.web import WebContext, WebServer
from service.websub import WebSub
from service.webui import Runtime, StatusSource, WebFace

log = structlog.get_logger("newswatch.run")

DRAIN_TIMEOUT = 600.0  # --once waits this long for the workers at most
SEND_EVERY = timedelta(seconds=5)
SWEEP_EVERY = timedelta(minutes=5)  # articles waiting longer than this are handed on again
CRASHED_POLL_RETRY = timedelta(seconds=30)  # e.g. the database was unreachable
DISABLED_RECHECK = timedelta(minutes=10)  # a re-enabled feed is picked up this soon


def _require_broker(broker_url: str, database: Database) -> None:
    try:
        broker.require(broker_url)
    except StorageError:
        database.close()
        raise


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunSummary:
    polls: list[PollOutcome] = field(default_factory=list)
    work: BatchReport = field(default_factory=BatchReport)
    sent: SendReport = field(default_factory=SendReport)
    waiting: Waiting = field(default_factory=Waiting)  # left for later digests, quiet hours
    unprocessed: int = 0


class Service:
    """One `newswatch run` process."""

    def __init__(
        self, config: Config, *, once: bool, now: Callable[[], datetime] = utcnow,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.now = now
        self.environ = dict(environ or {})  # for ${VAR} in reloaded configuration
        self.database = Database.open(config.settings.database_url)
        if once and config.settings.broker_url:
            _require_broker(config.settings.broker_url, self.database)
        self.processor = Processor.from_config(config)
        if not config.settings.broker_url:  # the workers process the entries otherwise,
            warm_up(config)  # and this poller needs no language model (~2 s, > 60 MB)
        self.feeds = FeedStore(self.database)
        self.articles = ArticleStore(self.database)
        # a long run paces channels in the sender, so one busy channel holds up no
        # other; --once keeps apprise's sleep: its one pass must send all that is due
        self._sender_paces = not once
        self.sender = alert_sender(config, self.database, sender_paces=self._sender_paces)
        self.last_reload_error: str | None = None
        self.dispatcher: EmbeddedDispatcher | CeleryDispatcher = make_dispatcher(
            config, self.database, self.processor, now, track=once
        )
        self.rng = random.Random()
        self._feeds_by_url = {feed.url: feed for feed in config.feeds}
        self._queue = PollQueue(config.settings.fetch.concurrency)
        self._background: set[asyncio.Future[None]] = set()
        self._in_flight: dict[str, asyncio.Task[PollOutcome]] = {}  # polls running, by URL
        self._resources: PollResources | None = None  # while `run_forever` polls
        self._replan = asyncio.Event()
        self.metrics = Metrics()
        self.metrics.watch_state(self._state_counts)
        self.websub = WebSub(config.settings.websub, config.settings.fetch,
                             WebSubStore(self.database), self.articles, self.dispatcher, now,
                             configured=lambda: self._feeds_by_url)

    def close(self) -> None:
        self.dispatcher.close()
        self.database.close()

    def apply_config(self, config: Config) -> None:
        """Switch to a new valid configuration without a restart.

        Watchlists, subscriptions, their channels and the feed list change at
        once; ``poll.*`` and ``fetch.*`` apply to the polls started from now on
        (``PollResources.switch``, on the event loop) and to WebSub's hub
        requests; the database, the broker, the web listener and
        ``websub.callback_url`` need a restart.
        """
        processor = Processor.from_config(config)  # may refuse: nothing changed yet
        sender = alert_sender(config, self.database, sender_paces=self._sender_paces)  # may refuse
        self.feeds.register(config.feeds, self.now())  # no 100,000 full states: a schedule
        added = [feed.url for feed in config.feeds if feed.url not in self._feeds_by_url]
        wanted = set(added)
        due = {url: at for url, at, _ in self.feeds.schedule() if url in wanted} if added else {}
        self.config, self.processor = config, processor
        if isinstance(self.dispatcher, EmbeddedDispatcher):
            self.dispatcher.set_processor(processor)
        self.sender = sender
        self._feeds_by_url = {feed.url: feed for feed in config.feeds}
        for url in added:
            self._queue.schedule(url, due.get(url) or self.now())
        settle_heap()
        self.last_reload_error = None
        log.info("configuration reloaded", version=config.version[:12], feeds=len(config.feeds),
                 added_feeds=len(added), subscriptions=len(config.watchlists.subscriptions))

    async def _sweep_until(self, stop: asyncio.Event) -> None:
        """Hand on again articles left waiting too long: a batch given up during a
        database outage, a task lost with a broker that kept nothing. Idempotent."""
        while not stop.is_set():
            await _sleep_until(stop, self.now() + SWEEP_EVERY, self.now())
            if stop.is_set():
                return
            try:
                stale = await asyncio.to_thread(
                    self.articles.stale_new_ids, self.now() - SWEEP_EVERY)
            except (StorageError, SQLAlchemyError) as e:
                log.error("sweep: database error; retrying", error=str(e))
                continue
            if stale:
                log.warning("handing on articles left waiting", count=len(stale))
                self.dispatcher.submit(stale)

    async def _reload_until(self, stop: asyncio.Event) -> None:
        """Apply each valid change of the configuration directory until stopped."""
        changes = config_changes(self.config.directory, self.environ, self.config,
                                 self._reload_refused, stop)
        async for config in changes:
            try:
                await asyncio.to_thread(self.apply_config, config)
            except (ConfigError, NewswatchError) as e:
                self._reload_refused(e)
            else:
                self._switch_poll_settings(config)
            self._replan.set()  # new feeds may be due now

    def _switch_poll_settings(self, config: Config) -> None:
        """New polls use the reloaded ``poll.*``/``fetch.*``; those in flight finish
        with what they started with; WebSub's hub requests likewise (on the loop:
        it wakes WebSub's task)."""
        self.websub.reconfigure(config.settings.websub, config.settings.fetch)
        self._queue.set_limit(config.settings.fetch.concurrency)
        if self._resources is not None:
            busy = [task for task in self._in_flight.values() if not task.done()]
            self._resources.switch(config.settings, busy)

    def _reload_refused(self, error: Exception) -> None:
        problems = error.problems if isinstance(error, ConfigError) else [error]
        self.last_reload_error = "\n".join(str(p) for p in problems)
        log.error("configuration change refused; the last good one stays in force",
                  problems=[str(p) for p in problems])
        ops = OpsNotifier.from_urls(self.config.settings.ops.notify)
        task = asyncio.get_running_loop().run_in_executor(
            None, ops.report, OpsOutbox(self.database), "configuration change refused",
            self.last_reload_error, self.now(),
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _resume(self) -> None:
        leftover = self.articles.ids_in_state("new")
        if leftover:
            log.info("resuming entries left unprocessed", count=len(leftover))
            self.dispatcher.submit(leftover)

    async def run_once(self, *, flush_digests: bool = False) -> RunSummary:
        """Poll every feed, process what is new, send what is due; ``flush_digests``
        also sends every digest backlog now instead of at its time."""
        summary = RunSummary()
        states = await asyncio.to_thread(self.feeds.sync, self.config.feeds, self.now())
        self._resume()
        async with self._context() as ctx:
            await announce_unannounced(ctx)
            summary.polls = await poll_many(ctx, self.config.feeds, states)
        summary.unprocessed = await self.dispatcher.drain(DRAIN_TIMEOUT)
        if summary.unprocessed:
            log.warning("entries still queued; they will be processed later",
                        unprocessed=summary.unprocessed)
        summary.sent = await asyncio.to_thread(self.sender.send_due, self.now,
                                               ignore_schedule=True, flush_digests=flush_digests)
        summary.waiting = await asyncio.to_thread(self.sender.waiting, self.now())
        if isinstance(self.dispatcher, EmbeddedDispatcher):
            summary.work = self.dispatcher.report
        return summary

    async def run_forever(self, stop: asyncio.Event) -> None:
        web_server = await self._start_web()
        try:
            await self._serve(stop)
        finally:
            if web_server is not None:
                await web_server.stop()

    async def _start_web(self) -> WebServer | None:
        return await run_surface.start_web(self.config.settings.web, self._web_context,
                                           websub=self.websub.enabled)

    def _web_context(self) -> WebContext:
        """The ops endpoints, status page, API and WebSub callback of this process."""
        status = StatusSource(self.database, lambda: Runtime(
            __version__, self.config.version, self.last_reload_error))
        face = WebFace(status=status, now=self.now, token=self.config.settings.web.token,
                       environ=self.environ, websub=self.websub if self.websub.enabled else None)
        return WebContext(metrics=self.metrics, readiness=self.readiness, version=__version__,
                          face=face)

    def readiness(self) -> list[str]:
        """Why this process cannot work right now (database, broker); empty when ready."""
        return run_surface.readiness(self.database, self.config.settings.broker_url)

    def _state_counts(self) -> StateCounts:
        return run_surface.state_counts(self.database, self.dispatcher,
                                        self.config.settings.broker_url)

    def _observe_sends(self, report: SendReport) -> None:
        run_surface.observe_sends(self.metrics, report)

    def _observe_poll(self, task: asyncio.Task[PollOutcome]) -> None:
        run_surface.observe_poll(self.metrics, task)

    async def _serve(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.feeds.register, self.config.feeds, self.now())
        schedule = await asyncio.to_thread(self.feeds.schedule)
        self._queue = _poll_queue(schedule, self._feeds_by_url, self.config, self.now())
        del schedule  # the queue keeps only (due, url) per feed
        settle_heap()
        self._resume()
        sender = asyncio.create_task(self._send_until(stop))
        reloader = asyncio.create_task(self._reload_until(stop))
        sweeper = asyncio.create_task(self._sweep_until(stop))
        upkeep = asyncio.create_task(upkeep_until(
            stop, self.database, lambda: self.config.settings.retention, self.now))
        websub = asyncio.create_task(self.websub.run_until(stop))
        in_flight = self._in_flight
        poll_done = self._replan  # a finished poll or a reload may move the wake-up earlier
        self._resources = resources = self._context()
        async with resources as ctx:
            await announce_unannounced(ctx)
            while not stop.is_set():
                poll_done.clear()  # each round with the context of the last reload
                wake = await self._start_due_polls(resources.ctx, in_flight, poll_done)
                await _sleep_until(stop, wake, self.now(), also=poll_done)
            log.info("stopping: finishing polls in flight", polls=len(in_flight))
            await asyncio.gather(*in_flight.values(), return_exceptions=True)
        if isinstance(self.dispatcher, EmbeddedDispatcher):
            await self.dispatcher.drain(DRAIN_TIMEOUT)  # Celery's queue outlives us
        await sender
        await reloader
        await sweeper
        await upkeep
        await websub
        await asyncio.to_thread(self.sender.send_due, self.now)
        log.info("stopped cleanly")

    async def _send_until(self, stop: asyncio.Event) -> None:
        """The alert sender: sends what is due every few seconds, beside the polls,
        and at once when an in-process batch has queued new alerts."""
        work_done = asyncio.Event()
        if isinstance(self.dispatcher, EmbeddedDispatcher):
            loop = asyncio.get_running_loop()

            def wake_sender() -> None:
                loop.call_soon_threadsafe(work_done.set)

            self.dispatcher.on_batch_done = wake_sender
        while not stop.is_set():
            work_done.clear()
            resume_at: datetime | None = None  # a paused channel's next alert is due
            try:
                report = await asyncio.to_thread(self.sender.send_due, self.now)
                await asyncio.to_thread(self._observe_sends, report)
                resume_at = report.resume_at
            except (StorageError, SQLAlchemyError) as e:
                log.error("alert sender: database error; retrying", error=str(e))
            wake = self.now() + SEND_EVERY
            await _sleep_until(stop, min(wake, resume_at or wake), self.now(), also=work_done)

    async def _start_due_polls(
        self, ctx: PollContext, in_flight: dict[str, asyncio.Task[PollOutcome]],
        poll_done: asyncio.Event,
    ) -> datetime:
        """Start polls for due feeds (at most fetch.concurrency at once); return
        when the next one falls due."""
        for url in [u for u, t in in_flight.items() if t.done()]:
            in_flight.pop(url)
        now = self.now()
        for url in self._queue.take_due(now):
            feed = self._feeds_by_url.get(url)
            if feed is None:  # removed from the configuration by a reload
                self._queue.finished(url, None)
                continue
            task = asyncio.create_task(poll_if_due(ctx, feed))
            task.add_done_callback(self._requeue(url, now))
            task.add_done_callback(lambda _: poll_done.set())
            task.add_done_callback(self._observe_poll)
            in_flight[url] = task
        return min(self._queue.next_due() or now + timedelta(minutes=1), now + timedelta(minutes=1))

    def _requeue(self, url: str, now: datetime) -> Callable[[asyncio.Task[PollOutcome]], None]:
        def requeue(task: asyncio.Task[PollOutcome]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("poll crashed; retried soon", feed=shown_url(url),
                          error=str(task.exception()), retry_in=str(CRASHED_POLL_RETRY))
            self._queue.finished(url, self.websub.poll_due(url, _next_due(task, now), now))

        return requeue

    def _context(self) -> PollResources:
        return PollResources(self._poll_parts())

    def _poll_parts(self) -> PollParts:
        return PollParts(self.config.settings, self.feeds, self.articles, self.dispatcher,
                         self.now, self.rng, self.websub.advertised)


def _poll_queue(
    schedule: Iterable[tuple[str, datetime | None, bool]], configured: Mapping[str, FeedConfig],
    config: Config, now: datetime,
) -> PollQueue:
    """The schedule of every configured feed, from its stored next poll
    (``FeedStore.schedule``); a disabled feed is looked at again later."""
    queue = PollQueue(config.settings.fetch.concurrency)
    for url, next_poll_at, enabled in schedule:
        feed = configured.get(url)
        if feed is None:
            continue
        due = next_poll_at or now if enabled else now + DISABLED_RECHECK
        queue.schedule(feed.url, due)  # the configuration's string: one copy per URL
    return queue


def _next_due(task: asyncio.Task[PollOutcome], now: datetime) -> datetime:
    """When a finished poll's feed is due again; a crashed poll is retried soon,
    a disabled feed looked at again later (`newswatch feeds enable` may revive it)."""
    if task.cancelled() or task.exception() is not None:
        return now + CRASHED_POLL_RETRY
    return task.result().next_poll_at or now + DISABLED_RECHECK


async def _sleep_until(
    stop: asyncio.Event, when: datetime, now: datetime, also: asyncio.Event | None = None
) -> None:
    """Sleep until ``when`` (at most a minute), or until ``stop`` or ``also`` is set."""
    seconds = min(max((when - now).total_seconds(), 0.05), 60.0)
    waits = [asyncio.ensure_future(e.wait()) for e in (stop, also) if e is not None]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()
