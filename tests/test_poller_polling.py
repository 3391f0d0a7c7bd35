"""Polling feeds end to end against a local HTTP server and a real database:
conditional GET, 301/410, backoff and disabling with one ops message, server
hints, adaptive intervals. Time is a clock the test moves; nothing sleeps."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from service.config.models import FeedConfig, FetchSettings, PollSettings, Settings
from service.notify.ops import OpsNotifier
from service.poller import make_session
from service.polling import (
    CLAIM_LEASE,
    HostLimiter,
    PollContext,
    PollOutcome,
    announce_unannounced,
    poll_feed,
    poll_if_due,
    poll_many,
)
from service.storage.articles import ArticleStore
from service.storage.database import Database
from service.storage.feeds import FeedStore
from service.storage.records import FeedState
from tests.feedserver import FeedServer
from tests.scenario import AlertInbox

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(
    fetch=FetchSettings(allow_private_addresses=True, timeout_seconds=5),
    poll=PollSettings(default_interval=timedelta(minutes=15), disable_after=3),
)


@dataclass
class Clock:
    current: datetime = START

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> None:
        self.current += by


@dataclass
class RecordingDispatcher:
    """The dispatch seam: remembers the article ids handed on."""

    submitted: list[int] = field(default_factory=list)

    def submit(self, article_ids: Sequence[int]) -> None:
        self.submitted.extend(article_ids)

    async def drain(self, timeout: float) -> int:
        return 0

    def close(self) -> None:
        return None


def rss(*items: tuple[str, datetime]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>Story {guid}</title>"
        f"<link>https://news.example/{guid}</link>"
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>"
        for guid, when in items
    )
    return f'<rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()


HOURLY = rss(*((f"g{i}", START - timedelta(hours=i)) for i in range(10)))


@dataclass
class Harness:
    database: Database
    server: FeedServer
    inbox: AlertInbox
    clock: Clock = field(default_factory=Clock)
    dispatcher: RecordingDispatcher = field(default_factory=RecordingDispatcher)
    settings: Settings = SETTINGS
    ops: OpsNotifier = field(init=False)

    def __post_init__(self) -> None:
        self.ops = OpsNotifier.from_urls([self.inbox.apprise_url])

    async def ops_sent(self) -> list[dict[str, object]]:
        """The ops messages received, once all handed over were tried (in their thread)."""
        assert await asyncio.to_thread(self.ops.drain, 30)
        return self.inbox.received

    @property
    def feeds(self) -> FeedStore:
        return FeedStore(self.database)

    def feed(self, path: str, **options: object) -> FeedConfig:
        return FeedConfig(url=self.server.url(path), **options)  # type: ignore[arg-type]

    def sync(self, *feeds: FeedConfig) -> dict[str, FeedState]:
        return self.feeds.sync(feeds, self.clock.now())

    def state(self, feed: FeedConfig) -> FeedState:
        state = self.feeds.state(feed.url)
        assert state is not None
        return state

    @asynccontextmanager
    async def context(self) -> AsyncIterator[PollContext]:
        with ThreadPoolExecutor(2) as pool:
            async with make_session(self.settings.fetch) as session:
                yield PollContext(
                    settings=self.settings, session=session, parse_pool=pool,
                    feeds=self.feeds, articles=ArticleStore(self.database),
                    dispatcher=self.dispatcher, now=self.clock.now, rng=random.Random(3),
                    ops=self.ops,
                    hosts=HostLimiter(2),
                )

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        async with self.context() as ctx:
            return await poll_feed(ctx, feed, self.state(feed))


@pytest.fixture
def harness(database: Database, server: FeedServer) -> Iterator[Harness]:
    harness = Harness(database, server, AlertInbox(server, "/ops"))
    yield harness
    assert harness.ops.drain(30)  # ops threads use the database: done before it closes


async def ops_subjects(harness: Harness) -> list[str]:
    return [str(m["title"]) for m in await harness.ops_sent()]


# --- conditional GET and unchanged bodies ----------------------------------------------


async def test_new_entries_are_stored_then_304_is_not_modified(harness: Harness) -> None:
    feed = harness.feed("/feed.xml")
    harness.sync(feed)
    harness.server.reply("/feed.xml", HOURLY, headers={"ETag": '"v1"'})

    first = await harness.poll(feed)
    harness.server.reply("/feed.xml", status=304)
    harness.clock.advance(timedelta(hours=1))
    second = await harness.poll(feed)

    assert (first.status, first.new_entries) == ("ok", 10)
    assert len(harness.dispatcher.submitted) == 10
    assert second.status == "not-modified"
    assert harness.server.requests_to("/feed.xml")[1].headers["If-None-Match"] == '"v1"'
    state = harness.state(feed)
    assert (state.items_seen, state.last_status, state.etag) == (10, 304, '"v1"')


async def test_same_body_without_validators_is_not_parsed_again(harness: Harness) -> None:
    feed = harness.feed("/feed.xml")
    harness.sync(feed)
    harness.server.reply("/feed.xml", HOURLY)

    await harness.poll(feed)
    again = await harness.poll(feed)

    assert again.status == "not-modified" and again.new_entries == 0
    assert harness.state(feed).last_status == 200


# --- 301 and 410 -------------------------------------------------------------------------


async def test_301_moves_the_fetch_url_and_keeps_the_config_url_as_key(harness: Harness) -> None:
    feed = harness.feed("/old.xml")
    harness.sync(feed)
    harness.server.reply("/old.xml", status=301, headers={"Location": "/new.xml"})
    harness.server.reply("/new.xml", HOURLY)

    await harness.poll(feed)
    await harness.poll(feed)

    state = harness.state(feed)
    assert state.url == feed.url and state.fetch_url == harness.server.url("/new.xml")
    assert len(harness.server.requests_to("/old.xml")) == 1
    assert len(harness.server.requests_to("/new.xml")) == 2


async def test_410_disables_at_once_and_tells_ops_once(harness: Harness) -> None:
    feed = harness.feed("/gone.xml", name="Gone Daily")
    harness.sync(feed)
    harness.server.reply("/gone.xml", status=410)

    outcome = await harness.poll(feed)
    after = await harness.poll(feed)

    assert outcome.status == "failed" and outcome.next_poll_at is None
    assert after.status == "disabled"
    assert len(harness.server.requests_to("/gone.xml")) == 1
    state = harness.state(feed)
    assert not state.enabled and "410" in (state.disabled_reason or "")
    assert await ops_subjects(harness) == ["[newswatch ops] feed disabled: Gone Daily"]


# --- failures: backoff, disabling, one ops message, re-enabling ----------------------------


async def fail_until_disabled(harness: Harness, feed: FeedConfig) -> list[PollOutcome]:
    outcomes = []
    for _ in range(SETTINGS.poll.disable_after):
        outcomes.append(await harness.poll(feed))
        harness.clock.advance(timedelta(days=1))
    return outcomes


async def test_a_disabled_private_feed_s_ops_message_shows_no_credentials(
    harness: Harness,
) -> None:
    url = harness.server.url("/private.xml?token=T0ken").replace("://", "://reader:Pa55word@")
    feed = FeedConfig(url=url)
    harness.sync(feed)
    harness.server.reply("/private.xml", b"down", status=500)

    await fail_until_disabled(harness, feed)

    (sent,) = await harness.ops_sent()
    said = json.dumps(sent)
    assert "Pa55word" not in said and "T0ken" not in said
    assert "reader:***@" in said and "token=***" in said  # the feed is still named


async def test_failures_back_off_then_disable_with_exactly_one_ops_message(
    harness: Harness,
) -> None:
    feed = harness.feed("/broken.xml")
    harness.sync(feed)
    harness.server.reply("/broken.xml", b"down", status=500)

    outcomes = await fail_until_disabled(harness, feed)
    async with harness.context() as ctx:  # a restart: nothing left to announce
        await announce_unannounced(ctx)
    late = await harness.poll(feed)

    assert [o.status for o in outcomes] == ["failed"] * 3 and late.status == "disabled"
    first_retry = outcomes[0].next_poll_at
    assert first_retry is not None
    assert timedelta(minutes=7) <= first_retry - START <= timedelta(minutes=15)
    assert outcomes[-1].next_poll_at is None
    state = harness.state(feed)
    assert (state.enabled, state.consecutive_failures) == (False, 3)
    assert (state.last_error_kind, state.last_error) == ("http", "HTTP 500 Internal Server Error")
    (sent,) = await harness.ops_sent()
    body = str(sent["message"])
    assert "3 consecutive failures" in body and "newswatch feeds enable" in body
    history = harness.feeds.failures(feed.url)  # every failure kept, newest first
    assert [(f.kind, f.status, f.message) for f in history] == [
        ("http", 500, "HTTP 500 Internal Server Error")] * 3
    assert [f.at for f in history] == [START + timedelta(days=d) for d in (2, 1, 0)]


async def test_a_disabling_left_unannounced_by_a_crash_is_announced_once(
    harness: Harness,
) -> None:
    feed = harness.feed("/crashed.xml")
    state = harness.sync(feed)[feed.url]
    harness.feeds.record_failure(state.id, START, kind="timeout", message="too slow",
                                 status=None, next_poll_at=None, disable_reason="10 failures")

    async with harness.context() as ctx:
        await announce_unannounced(ctx)
        await announce_unannounced(ctx)

    (sent,) = await harness.ops_sent()
    assert "timeout: too slow" in str(sent["message"])


async def test_a_changed_config_entry_re_enables_the_feed(harness: Harness) -> None:
    feed = harness.feed("/broken.xml")
    harness.sync(feed)
    harness.server.reply("/broken.xml", status=404)
    await fail_until_disabled(harness, feed)

    harness.sync(feed)  # unchanged: stays disabled
    still = harness.state(feed)
    harness.sync(harness.feed("/broken.xml", name="Fixed name"))
    again = harness.state(feed)

    assert not still.enabled
    assert again.enabled and again.consecutive_failures == 0 and again.next_poll_at is None
    assert again.ops_notified_at is None  # a second disabling is announced again


async def test_feeds_enable_re_enables(harness: Harness) -> None:
    feed = harness.feed("/gone.xml")
    harness.sync(feed)
    harness.server.reply("/gone.xml", status=410)
    await harness.poll(feed)

    assert harness.feeds.enable(feed.url)
    assert not harness.feeds.enable("https://unknown.example/feed")
    assert harness.state(feed).enabled


async def test_every_failure_kind_and_message_is_recorded(harness: Harness) -> None:
    feed = harness.feed("/garbage.xml")
    harness.sync(feed)
    harness.server.reply("/garbage.xml", b"this is no feed at all")

    outcome = await harness.poll(feed)

    state = harness.state(feed)
    assert outcome.error_kind == state.last_error_kind == "parse"
    assert state.last_error and "no feed found" in state.last_error
    assert state.last_failure_at == START


# --- server hints and intervals --------------------------------------------------------------


async def test_retry_after_on_503_sets_the_retry(harness: Harness) -> None:
    feed = harness.feed("/busy.xml")
    harness.sync(feed)
    harness.server.reply("/busy.xml", status=503, headers={"Retry-After": "7200"})

    outcome = await harness.poll(feed)

    assert outcome.next_poll_at == START + timedelta(hours=2)


async def test_cache_control_max_age_delays_the_next_poll(harness: Harness) -> None:
    feed = harness.feed("/cached.xml", interval="5m")
    harness.sync(feed)
    harness.server.reply("/cached.xml", HOURLY, headers={"Cache-Control": "max-age=3600"})

    outcome = await harness.poll(feed)

    assert outcome.next_poll_at == START + timedelta(hours=1)


async def test_feed_without_interval_learns_it_from_its_publishing_rate(
    harness: Harness,
) -> None:
    learning = harness.feed("/hourly.xml")
    fixed = harness.feed("/fixed.xml", interval="10m")
    harness.sync(learning, fixed)
    harness.server.reply("/hourly.xml", HOURLY)
    harness.server.reply("/fixed.xml", HOURLY)

    learned = await harness.poll(learning)
    configured = await harness.poll(fixed)

    assert learned.next_poll_at is not None and configured.next_poll_at is not None
    assert timedelta(minutes=27) <= learned.next_poll_at - START <= timedelta(minutes=33)
    assert timedelta(minutes=9) <= configured.next_poll_at - START <= timedelta(minutes=11)
    assert harness.state(learning).interval_seconds == 1800


# --- many feeds, claims ------------------------------------------------------------------------


async def test_poll_if_due_claims_so_a_second_poller_does_not_poll(harness: Harness) -> None:
    feed = harness.feed("/feed.xml")
    harness.sync(feed)
    harness.server.reply("/feed.xml", HOURLY)

    async with harness.context() as ctx:
        first = await poll_if_due(ctx, feed)
        second = await poll_if_due(ctx, feed)

    assert first.status == "ok"
    assert first.next_poll_at is not None and first.next_poll_at > START + timedelta(minutes=5)
    # the second poller looks again within poll.min_interval (5 min), not at the first's
    # schedule alone: what it reads may be a claim's 10-minute lease of a poll in flight
    assert second.status == "not-due" and second.next_poll_at == START + timedelta(minutes=5)
    assert len(harness.server.requests_to("/feed.xml")) == 1


async def test_a_poller_losing_a_claim_in_flight_looks_again_within_the_feeds_interval(
    harness: Harness,
) -> None:
    feed = harness.feed("/feed.xml")
    harness.sync(feed)
    held = harness.feeds.claim(feed.url, START, CLAIM_LEASE)  # another poller's, in flight
    assert held is not None
    async with harness.context() as ctx:
        lost = await poll_if_due(ctx, feed)
    assert lost.status == "not-due"
    assert lost.next_poll_at == START + timedelta(minutes=5)  # not START + the 10-min lease
    assert harness.server.requests_to("/feed.xml") == []


async def test_poll_many_polls_each_feed_once_within_the_limits(harness: Harness) -> None:
    feeds = [harness.feed(f"/f{i}.xml") for i in range(12)]
    states = harness.sync(*feeds)
    for i in range(12):
        harness.server.reply(f"/f{i}.xml", rss((f"a{i}", START)))
    harness.settings = SETTINGS.model_copy(
        update={"fetch": SETTINGS.fetch.model_copy(update={"concurrency": 3})})

    async with harness.context() as ctx:
        outcomes = await poll_many(ctx, feeds, states)

    assert [o.url for o in outcomes] == [f.url for f in feeds]
    assert {o.status for o in outcomes} == {"ok"}
    assert len(harness.server.requests) == 12


async def test_at_most_two_fetches_run_at_once_per_host(harness: Harness) -> None:
    active = peak = 0

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.1)  # the server's pace, so fetches overlap; not a wait
        active -= 1
        return web.Response(body=rss((request.path, START)))

    feeds = [harness.feed(f"/s{i}.xml") for i in range(8)]
    states = harness.sync(*feeds)
    for i in range(8):
        harness.server.add(f"/s{i}.xml", slow)

    async with harness.context() as ctx:
        outcomes = await poll_many(ctx, feeds, states)

    assert {o.status for o in outcomes} == {"ok"}
    assert peak == 2
