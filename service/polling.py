"""Polling one feed: fetch, parse off the event loop, store new entries, hand them on.

    fetch (aiohttp, conditional GET)      service.poller.fetch
    parse (feedparser, process pool)      service.poller.parse
    store entries new to this feed        storage (insert-or-ignore on feed+GUID)
    record the feed's fetch state         storage
    submit the new article ids            dispatch (in-process or Celery)

A failing feed is that feed's result, never the run's crash.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiohttp
import structlog

from service.backoff import retry_delay
from service.config.models import FeedConfig, Settings
from service.dispatch import Dispatcher
from service.domain import ParsedFeed
from service.errors import FetchError
from service.poller.fetch import FetchResult, fetch_feed
from service.poller.parse import parse_feed
from service.storage.articles import ArticleStore
from service.storage.feeds import FeedStore
from service.storage.records import FeedState

log = structlog.get_logger("newswatch.poll")

MAX_BACKOFF = timedelta(hours=24)
PollStatus = Literal["ok", "not-modified", "failed"]


@dataclass(frozen=True, slots=True)
class PollOutcome:
    url: str
    name: str
    status: PollStatus
    new_entries: int = 0
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PollContext:
    settings: Settings
    session: aiohttp.ClientSession
    parse_pool: Executor
    feeds: FeedStore
    articles: ArticleStore
    dispatcher: Dispatcher
    now: Callable[[], datetime]
    rng: random.Random


def next_poll_after(now: datetime, interval: timedelta, rng: random.Random) -> datetime:
    """The next poll: one interval later, jittered by up to 10% to spread load."""
    return now + interval * rng.uniform(0.9, 1.1)


def next_poll_after_failure(
    now: datetime, interval: timedelta, failures: int, rng: random.Random
) -> datetime:
    """Back off exponentially from the feed's interval, capped at a day."""
    return now + retry_delay(failures, base=interval, cap=MAX_BACKOFF, rng=rng)


def _clock(when: datetime) -> str:
    return when.strftime("%H:%M:%S UTC")


def interval_of(feed: FeedConfig, settings: Settings) -> timedelta:
    return feed.interval or settings.poll.default_interval


async def poll_feed(ctx: PollContext, feed: FeedConfig, state: FeedState) -> PollOutcome:
    name = feed.name or state.title or feed.url
    result = await fetch_feed(
        ctx.session, state.url, etag=state.etag, last_modified=state.last_modified,
        settings=ctx.settings.fetch,
    )
    if result.error is not None:
        return await _failed(ctx, feed, state, name, result.error, result.status)
    if result.not_modified:
        return await _not_modified(ctx, feed, state, name)
    try:
        parsed = await _parse(ctx, result)
    except FetchError as error:
        return await _failed(ctx, feed, state, name, error, result.status)
    return await _stored(ctx, feed, state, feed.name or parsed.title or feed.url, result, parsed)


async def _parse(ctx: PollContext, result: FetchResult) -> ParsedFeed:
    loop = asyncio.get_running_loop()
    body = result.body or b""
    return await loop.run_in_executor(
        ctx.parse_pool, parse_feed, body, result.final_url, result.content_type
    )


async def _stored(
    ctx: PollContext, feed: FeedConfig, state: FeedState, name: str,
    result: FetchResult, parsed: ParsedFeed,
) -> PollOutcome:
    now = ctx.now()
    new_ids = await asyncio.to_thread(ctx.articles.add_entries, state.id, parsed.entries, now)
    next_poll = next_poll_after(now, interval_of(feed, ctx.settings), ctx.rng)
    await asyncio.to_thread(
        ctx.feeds.record_success, state.id, now, status=result.status or 200,
        etag=result.etag, last_modified=result.last_modified, title=parsed.title,
        new_items=len(new_ids), next_poll_at=next_poll,
    )
    if new_ids:
        ctx.dispatcher.submit(new_ids)
    log.info("feed polled", feed=name, entries=len(parsed.entries), new=len(new_ids),
             recovered_malformed=parsed.bozo or None, next_poll=_clock(next_poll))
    return PollOutcome(feed.url, name, "ok", new_entries=len(new_ids))


async def _not_modified(
    ctx: PollContext, feed: FeedConfig, state: FeedState, name: str
) -> PollOutcome:
    now = ctx.now()
    next_poll = next_poll_after(now, interval_of(feed, ctx.settings), ctx.rng)
    await asyncio.to_thread(ctx.feeds.record_not_modified, state.id, now, next_poll)
    log.info("feed not modified", feed=name, next_poll=_clock(next_poll))
    return PollOutcome(feed.url, name, "not-modified")


async def _failed(
    ctx: PollContext, feed: FeedConfig, state: FeedState, name: str,
    error: FetchError, status: int | None,
) -> PollOutcome:
    now = ctx.now()
    failures = state.consecutive_failures + 1
    retry_at = next_poll_after_failure(now, interval_of(feed, ctx.settings), failures, ctx.rng)
    await asyncio.to_thread(
        ctx.feeds.record_failure, state.id, now, kind=error.kind, message=error.message,
        status=status, next_poll_at=retry_at,
    )
    log.warning("feed failed", feed=name, kind=error.kind, error=error.message,
                consecutive_failures=failures, retry_at=_clock(retry_at))
    return PollOutcome(feed.url, name, "failed", error_kind=error.kind, error=error.message)
