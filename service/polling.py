"""Polling one feed: fetch, parse off the event loop, store new entries, hand them on.

    claim the feed (run_forever: atomically, so two pollers never share it)
    fetch (aiohttp, conditional GET,       service.poller.fetch
           at most fetch.per_host_concurrency per host)
    parse (process pool: feedparser-rs     service.poller.fastparse
           for well-formed bodies, else feedparser, service.poller.parse)
           skipped when the body is byte-for-byte the last one
    store entries new to this feed         storage (insert-or-ignore on feed+GUID)
    decide the next poll, or disable       service.scheduling (pure)
    record the feed's poll state           storage
    tell ops once when a feed is disabled  service.notify.ops
    submit the new article ids             dispatch (in-process or Celery)

A failing feed is that feed's result, never the run's crash.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog

from service.config.models import FeedConfig, Settings
from service.dispatch import Dispatcher
from service.domain import ParsedFeed
from service.errors import FetchError
from service.notify.ops import OpsNotifier
from service.poller.fastparse import parse_feed
from service.poller.fetch import FetchResult, fetch_feed
from service.scheduling import (
    IntervalPolicy,
    ServerHints,
    after_failure,
    feed_interval,
    next_poll_after_success,
    publishing_interval,
)
from service.storage.articles import ArticleStore
from service.storage.feeds import FeedStore
from service.storage.ops_messages import OpsOutbox
from service.storage.records import FeedState
from service.urls import shown_url

log = structlog.get_logger("newswatch.poll")

PollStatus = Literal["ok", "not-modified", "failed", "disabled", "not-due"]
CLAIM_LEASE = timedelta(minutes=10)  # a claimed feed is free again after this if we die
T = TypeVar("T")
# SQLite has one writer: poll writes queue on this lock, which wakes the next one at
# once, instead of in SQLite's busy handler, which sleeps 1-100 ms between tries
# (bench_poller: half the time of a changed feed went to those sleeps)
_SQLITE_WRITES = threading.Lock()


@dataclass(frozen=True, slots=True)
class PollOutcome:
    url: str
    name: str
    status: PollStatus
    new_entries: int = 0
    error_kind: str | None = None
    error: str | None = None
    next_poll_at: datetime | None = None  # None: the feed is disabled


class HostLimiter:
    """At most ``per_host`` fetches at once to one host; idle hosts are forgotten."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        semaphore, users = self._hosts.get(host) or (asyncio.Semaphore(self._per_host), 0)
        self._hosts[host] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._hosts[host]
            if users <= 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (semaphore, users - 1)

    def __len__(self) -> int:
        return len(self._hosts)


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
    ops: OpsNotifier = field(default_factory=lambda: OpsNotifier(()))
    hosts: HostLimiter | None = None
    # told of every freshly parsed feed (WebSub hub discovery, service.websub)
    on_parsed: Callable[[FeedState, ParsedFeed], None] | None = None

    @functools.cached_property  # once per context: a reload makes a new one
    def policy(self) -> IntervalPolicy:
        poll = self.settings.poll
        return IntervalPolicy(default=poll.default_interval, minimum=poll.min_interval,
                              maximum=poll.max_interval, adaptive=poll.adaptive)


class _Clock:
    """A time of day for a log line, formatted only if the line is written
    (a filtered ``log.debug`` per 304 otherwise formats it for nothing)."""

    __slots__ = ("when",)

    def __init__(self, when: datetime) -> None:
        self.when = when

    def __repr__(self) -> str:
        return self.when.strftime("%H:%M:%S UTC")

    __str__ = __structlog__ = __repr__


def _clock(when: datetime | None) -> _Clock | None:
    return _Clock(when) if when is not None else None


def interval_of(feed: FeedConfig, state: FeedState, ctx: PollContext) -> timedelta:
    return feed_interval(feed.interval, state.learned_interval, ctx.policy)


async def _write(ctx: PollContext, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call`` (a storage write) in a thread; on SQLite one write at a time."""
    if not ctx.settings.database_url.startswith("sqlite"):
        return await asyncio.to_thread(call, *args, **kwargs)

    def serialised() -> T:
        with _SQLITE_WRITES:
            return call(*args, **kwargs)

    return await asyncio.to_thread(serialised)


# --- many feeds ------------------------------------------------------------------------


async def poll_many(
    ctx: PollContext, feeds: Sequence[FeedConfig], states: dict[str, FeedState]
) -> list[PollOutcome]:
    """Poll every feed once (disabled ones are reported, not fetched), at most
    ``fetch.concurrency`` at a time; outcomes in the order of ``feeds``."""
    outcomes: list[PollOutcome | None] = [None] * len(feeds)
    pending = iter(enumerate(feeds))

    async def worker() -> None:
        for i, feed in pending:
            outcomes[i] = await poll_feed(ctx, feed, states[feed.url])

    workers = min(ctx.settings.fetch.concurrency, len(feeds))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return [o for o in outcomes if o is not None]


async def poll_if_due(ctx: PollContext, feed: FeedConfig) -> PollOutcome:
    """Claim the feed and poll it; when it is not ours to poll, say when it is due."""
    now = ctx.now()
    state = await asyncio.to_thread(ctx.feeds.claim, feed.url, now, CLAIM_LEASE)
    if state is not None:
        return await poll_feed(ctx, feed, state)
    current = await asyncio.to_thread(ctx.feeds.state, feed.url)
    name = feed.name or shown_url(feed.url)
    if current is None or not current.enabled:
        return PollOutcome(feed.url, name, "disabled")
    # another poller holds it: its next poll is a claim's lease (10 min) while that poll
    # is in flight, not the feed's schedule; look again within the feed's shortest
    # interval, or this poller, losing the same race each time, would drift idle
    recheck = now + (feed.interval or ctx.settings.poll.min_interval)
    due = min(current.next_poll_at, recheck) if current.next_poll_at else now
    return PollOutcome(feed.url, name, "not-due", next_poll_at=due)


# --- one feed --------------------------------------------------------------------------


async def poll_feed(ctx: PollContext, feed: FeedConfig, state: FeedState) -> PollOutcome:
    name = feed.name or state.title or shown_url(feed.url)
    if not state.enabled:
        return PollOutcome(feed.url, name, "disabled", error=state.disabled_reason)
    result = await _fetch(ctx, state)
    if result.error is not None:
        return await _failed(ctx, feed, state, name, result, result.error)
    digest = hashlib.sha256(result.body).hexdigest() if result.body is not None else None
    if result.not_modified or (digest is not None and digest == state.content_hash):
        return await _not_modified(ctx, feed, state, name, result)
    try:
        parsed = await _parse(ctx, result)
    except FetchError as error:
        return await _failed(ctx, feed, state, name, result, error)
    name = feed.name or parsed.title or shown_url(feed.url)
    return await _stored(ctx, feed, state, name, result, parsed, digest)


async def _fetch(ctx: PollContext, state: FeedState) -> FetchResult:
    fetch = fetch_feed(ctx.session, state.target, etag=state.etag,
                       last_modified=state.last_modified, settings=ctx.settings.fetch)
    if ctx.hosts is None:
        return await fetch
    async with ctx.hosts.slot(state.target):
        return await fetch


async def _parse(ctx: PollContext, result: FetchResult) -> ParsedFeed:
    loop = asyncio.get_running_loop()
    body = result.body or b""
    return await loop.run_in_executor(
        ctx.parse_pool, parse_feed, body, result.final_url, result.content_type
    )


def _hints(result: FetchResult) -> ServerHints:
    return ServerHints(retry_after=result.retry_after, cache_control=result.cache_control,
                       expires=result.expires)


async def _stored(
    ctx: PollContext, feed: FeedConfig, state: FeedState, name: str,
    result: FetchResult, parsed: ParsedFeed, digest: str | None,
) -> PollOutcome:
    if ctx.on_parsed is not None:
        ctx.on_parsed(state, parsed)
    now = ctx.now()
    learned = publishing_interval((e.published for e in parsed.entries), now, ctx.policy)
    interval = feed_interval(feed.interval, learned or state.learned_interval, ctx.policy)
    next_poll = next_poll_after_success(now, interval, _hints(result), ctx.rng)

    def store() -> list[int]:  # entries, then the poll's record: one trip, one transaction
        with ctx.feeds.transaction() as connection:
            new_ids = ctx.articles.add_entries(state.id, parsed.entries, now, connection)
            ctx.feeds.record_success(
                state.id, now, status=result.status or 200, etag=result.etag,
                last_modified=result.last_modified, title=parsed.title,
                new_items=len(new_ids), next_poll_at=next_poll,
                fetch_url=result.permanent_redirect, interval=learned, content_hash=digest,
                connection=connection,
            )
        return new_ids

    new_ids = await _write(ctx, store)
    if new_ids:
        ctx.dispatcher.submit(new_ids)
    log.info("feed polled", feed=name, entries=len(parsed.entries), new=len(new_ids),
             recovered_malformed=parsed.bozo or None, moved_to=result.permanent_redirect,
             next_poll=_clock(next_poll))
    return PollOutcome(feed.url, name, "ok", new_entries=len(new_ids), next_poll_at=next_poll)


async def _not_modified(
    ctx: PollContext, feed: FeedConfig, state: FeedState, name: str, result: FetchResult
) -> PollOutcome:
    now = ctx.now()
    interval = interval_of(feed, state, ctx)
    next_poll = next_poll_after_success(now, interval, _hints(result), ctx.rng)
    await _write(ctx, ctx.feeds.record_not_modified, state.id, now, next_poll,
                 fetch_url=result.permanent_redirect, status=result.status or 304)
    log.debug("feed not modified", feed=name, next_poll=_clock(next_poll))  # the usual case
    return PollOutcome(feed.url, name, "not-modified", next_poll_at=next_poll)


async def _failed(
    ctx: PollContext, feed: FeedConfig, state: FeedState, name: str,
    result: FetchResult, error: FetchError,
) -> PollOutcome:
    now = ctx.now()
    decision = after_failure(
        now, failures_before=state.consecutive_failures, interval=interval_of(feed, state, ctx),
        status=result.status, hints=_hints(result),
        disable_after=ctx.settings.poll.disable_after, rng=ctx.rng,
    )
    await _write(
        ctx, ctx.feeds.record_failure, state.id, now, kind=error.kind, message=error.message,
        status=result.status, next_poll_at=decision.next_poll_at,
        disable_reason=decision.disable_reason, fetch_url=result.permanent_redirect,
    )
    log.warning("feed failed", feed=name, kind=error.kind, error=error.message,
                consecutive_failures=decision.consecutive_failures,
                retry_at=_clock(decision.next_poll_at), disabled=decision.disable_reason)
    if decision.disable_reason is not None:
        await announce_disabled(ctx, state.id, name, state.url, decision.disable_reason, error)
    return PollOutcome(feed.url, name, "failed", error_kind=error.kind, error=error.message,
                       next_poll_at=decision.next_poll_at)


async def announce_disabled(
    ctx: PollContext, feed_id: int, name: str, url: str, reason: str,
    error: FetchError | None,
) -> None:
    """Tell ops that a feed was disabled: once, whoever and however often it is called
    (the notice is stored with the claim, and sent by the ops channels' threads)."""
    last = f"\nLast error: {error.kind}: {error.message}" if error is not None else ""
    shown = shown_url(url)  # ops channels never see a private feed's credentials
    body = (f"Feed {name} ({shown}) is disabled: {reason}.{last}\n"
            f"It is polled again when its entry in feeds.yaml changes, or after "
            f"`newswatch feeds enable {shown}`.")
    notice = ctx.ops.notice(f"feed disabled: {name}", body)
    stored = await asyncio.to_thread(ctx.feeds.claim_ops_notice, feed_id, ctx.now(), notice)
    if stored is not None:
        ctx.ops.tell(OpsOutbox(ctx.feeds.database), notice, stored)


async def announce_unannounced(ctx: PollContext) -> None:
    """At start-up: tell ops about feeds disabled just before a crash."""
    for state in await asyncio.to_thread(ctx.feeds.unannounced_disabled):
        error = (FetchError(state.last_error_kind, state.last_error or "")
                 if state.last_error_kind else None)
        await announce_disabled(ctx, state.id, state.display_name, state.url,
                                state.disabled_reason or "disabled", error)
