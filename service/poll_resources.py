"""What the polls of one `newswatch run` share: HTTP session, parse pool, settings.

A reload may change ``poll.*`` and ``fetch.*`` while polls are in flight:
``PollResources.switch`` makes the context new polls start with (a new
HTTP session when ``fetch.*`` changed) and closes the old session once the
polls that started with it have ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import multiprocessing
import os
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

import aiohttp
import structlog

from service.config.memory import release_free_memory
from service.config.models import Settings
from service.dispatch import Dispatcher
from service.domain import ParsedFeed
from service.notify.ops import OpsNotifier
from service.poller.fastparse import ignore_interrupts
from service.poller.fetch import make_session
from service.polling import HostLimiter, PollContext
from service.storage.articles import ArticleStore
from service.storage.feeds import FeedStore
from service.storage.records import FeedState

log = structlog.get_logger("newswatch.run")


@dataclasses.dataclass(frozen=True, slots=True)
class PollParts:
    """What a run's polls take from the service, whatever the settings."""

    settings: Settings
    feeds: FeedStore
    articles: ArticleStore
    dispatcher: Dispatcher
    now: Callable[[], datetime]
    rng: random.Random
    on_parsed: Callable[[FeedState, ParsedFeed], None] | None = None


class PollResources:
    """The HTTP session and parse pool that live as long as one run.

    A reload that changes ``fetch.*`` gets a new session (limits, timeouts,
    resolver); the old one is closed once the polls that were using it end,
    so no fetch in flight is dropped.
    """

    def __init__(self, parts: PollParts) -> None:
        self._parts = parts
        self._pool: ProcessPoolExecutor | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self.ctx: PollContext

    async def __aenter__(self) -> PollContext:
        parts = self._parts
        settings = parts.settings
        self._pool = ProcessPoolExecutor(
            max_workers=max(1, os.cpu_count() or 1),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=ignore_interrupts,  # in the parse module: what the workers import
        )
        await _start_workers(self._pool, max(1, os.cpu_count() or 1))
        self.ctx = PollContext(
            settings=settings, session=make_session(settings.fetch), parse_pool=self._pool,
            feeds=parts.feeds, articles=parts.articles, dispatcher=parts.dispatcher,
            now=parts.now, rng=parts.rng,
            ops=OpsNotifier.from_urls(settings.ops.notify),
            hosts=HostLimiter(settings.fetch.per_host_concurrency),
            on_parsed=parts.on_parsed,
        )
        return self.ctx

    def switch(self, settings: Settings, busy: Iterable[asyncio.Future[Any]]) -> PollContext:
        """The context for polls started from now on, with ``settings``; ``busy``
        are the polls in flight, which keep the context they started with."""
        running = list(busy)
        old = self.ctx
        changes: dict[str, Any] = {"settings": settings,
                                   "ops": OpsNotifier.from_urls(settings.ops.notify)}
        if settings.fetch != old.settings.fetch:
            changes["session"] = make_session(settings.fetch)
            retire = asyncio.create_task(_close_when_done(old.session, running))
            self._retiring.add(retire)
            retire.add_done_callback(self._retiring.discard)
        if settings.fetch.per_host_concurrency != old.settings.fetch.per_host_concurrency:
            changes["hosts"] = HostLimiter(settings.fetch.per_host_concurrency)
        self.ctx = dataclasses.replace(old, **changes)
        log.info("poll and fetch settings switched", new_session="session" in changes,
                 polls_in_flight=len(running))
        return self.ctx

    async def retired(self) -> None:
        """Until every session replaced by a reload is closed."""
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.retired()
        await self.ctx.session.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


async def _start_workers(pool: ProcessPoolExecutor, count: int) -> None:
    """Start every parse worker now, as the pipeline's models are warmed up: the
    pool spawns a worker on a submission that finds none idle, so the first feeds
    would otherwise wait for (and a short run would pay within its work) the
    workers' interpreter start and parser import."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, os.getpid) for _ in range(count)))


async def _close_when_done(
    session: aiohttp.ClientSession, busy: list[asyncio.Future[Any]]
) -> None:
    """Close a replaced session once the polls using it have ended."""
    if busy:
        await asyncio.wait(busy)
    await session.close()


def settle_heap() -> None:
    """After start-up or a reload: free what loading left, then keep the cyclic
    garbage collector off the long-lived objects (the configuration, the
    queue). With 100,000 feeds a full collection walks ~270,000 objects for
    ~170 ms, an event-loop stall and CPU for nothing (bench_poller)."""
    release_free_memory()
    gc.freeze()
