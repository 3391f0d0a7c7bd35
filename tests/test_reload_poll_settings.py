"""A reload changes poll.* and fetch.* for the polls that start after it,
without a restart and without dropping the fetches in flight."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from service.config import load_config
from service.config.models import FeedConfig, FetchSettings, PollSettings, Settings
from service.poll_resources import PollParts, PollResources
from service.poller.queue import PollQueue
from service.polling import PollOutcome, poll_feed
from service.runner import Service
from service.scheduling import JITTER
from service.storage import ArticleStore, Database, FeedStore
from service.storage.records import FeedState
from tests.feedserver import FeedServer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Dispatcher:
    def submit(self, article_ids: object) -> None:
        return None

    async def drain(self, timeout: float) -> int:
        return 0

    def close(self) -> None:
        return None


def _rss(items: int) -> bytes:
    entries = "".join(f"<item><title>Item {i}</title><link>https://x.example/{i}</link>"
                      f"<description>{'text ' * 40}</description></item>"
                      for i in range(items))
    return f'<rss version="2.0"><channel><title>T</title>{entries}</channel></rss>'.encode()


def _settings(max_bytes: int, default_interval: str) -> Settings:
    return Settings.model_validate({
        "fetch": {"allow_private_addresses": True, "max_bytes": max_bytes},
        "poll": {"default_interval": default_interval, "adaptive": False}})


async def test_a_reload_applies_fetch_and_poll_settings_to_the_next_polls(
    tmp_path: Path,
) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'nw.db'}")
    release = threading.Event()

    arrived = threading.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        return web.Response(body=_rss(2))

    with FeedServer() as server:
        server.reply("/big.xml", _rss(40))  # ~12 KB
        server.reply("/small.xml", _rss(1))  # well under 1,000 bytes
        server.add("/slow.xml", slow)
        big, small, slow_feed = (FeedConfig(url=server.url(path))
                                 for path in ("/big.xml", "/small.xml", "/slow.xml"))
        store = FeedStore(database)
        store.register([big, small, slow_feed], NOW)

        def state(feed: FeedConfig) -> FeedState:
            found = store.state(feed.url)
            assert found is not None
            return found

        parts = PollParts(_settings(100_000, "15m"), store, ArticleStore(database),
                          _Dispatcher(), lambda: NOW, random.Random(1))
        resources = PollResources(parts)
        async with resources as first:
            before = await poll_feed(first, big, state(big))
            in_flight = asyncio.create_task(poll_feed(first, slow_feed, state(slow_feed)))
            assert await asyncio.to_thread(arrived.wait, 10)  # the slow fetch is in flight

            second = resources.switch(_settings(1_000, "2h"), [in_flight])  # a valid reload
            server.reply("/big.xml", _rss(41))  # changed, and far above 1,000 bytes
            too_large = await poll_feed(second, big, state(big))
            after = await poll_feed(second, small, state(small))
            old_session_open_meanwhile = not first.session.closed
            release.set()
            finished = await in_flight
            await resources.retired()
            assert first.session.closed  # once its last fetch ended
            assert not second.session.closed
    database.close()

    assert old_session_open_meanwhile
    assert before.status == "ok" and _due_in(before) <= timedelta(minutes=15) * (1 + JITTER)
    assert (too_large.status, too_large.error_kind) == ("failed", "too-large")
    assert after.status == "ok"
    assert timedelta(hours=2) * (1 - JITTER) <= _due_in(after) <= timedelta(hours=2) * (1 + JITTER)
    # begun before the reload: finished, with the settings it started with
    assert finished.status == "ok" and _due_in(finished) <= timedelta(minutes=15) * (1 + JITTER)


def _due_in(outcome: PollOutcome) -> timedelta:
    assert outcome.next_poll_at is not None
    return outcome.next_poll_at - NOW


def test_queue_limit_follows_fetch_concurrency() -> None:
    queue = PollQueue(limit=1)
    for i in range(3):
        queue.schedule(f"https://{i}.example/", NOW)
    assert queue.take_due(NOW) == ["https://0.example/"]
    queue.set_limit(3)
    assert queue.take_due(NOW) == ["https://1.example/", "https://2.example/"]
    queue.set_limit(1)
    queue.finished("https://0.example/", NOW + timedelta(hours=1))
    queue.schedule("https://3.example/", NOW)
    assert queue.take_due(NOW) == []  # two still running, over the new limit


def test_unchanged_fetch_settings_keep_the_session() -> None:
    async def scenario(tmp_path: Path) -> tuple[bool, bool]:
        database = Database.open(f"sqlite:///{tmp_path / 'nw.db'}")
        settings = _settings(100_000, "15m")
        parts = PollParts(settings, FeedStore(database), ArticleStore(database), _Dispatcher(),
                          lambda: NOW, random.Random(1))
        resources = PollResources(parts)
        async with resources as ctx:
            hourly = PollSettings(default_interval=timedelta(hours=1))
            poll_only = settings.model_copy(update={"poll": hourly})
            same = resources.switch(poll_only, []).session is ctx.session
            fetch = poll_only.model_copy(update={"fetch": FetchSettings(max_bytes=5)})
            other = resources.switch(fetch, []).session is not ctx.session
        database.close()
        return same, other

    with tempfile.TemporaryDirectory() as directory:
        assert asyncio.run(scenario(Path(directory))) == (True, True)


async def test_a_running_service_switches_on_a_valid_edit_of_newswatch_yaml(
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "config"
    (config_dir / "watchlists").mkdir(parents=True)
    (config_dir / "feeds.yaml").write_text("feeds:\n  - url: https://a.example/feed.xml\n")
    settings = config_dir / "newswatch.yaml"
    base = f"database_url: sqlite:///{tmp_path / 'nw.db'}\nweb: {{enabled: false}}\n"
    settings.write_text(base + "fetch: {max_bytes: 100000, concurrency: 50}\n")
    service = Service(load_config(config_dir, {}), once=False)
    stop = asyncio.Event()
    try:
        service._resources = resources = PollResources(service._poll_parts())
        async with resources as first:
            reloader = asyncio.create_task(service._reload_until(stop))
            edited = "fetch: {max_bytes: 1000, concurrency: 7}\npoll: {default_interval: 2h}\n"
            deadline = time.monotonic() + 30
            while resources.ctx is first and time.monotonic() < deadline:
                service._replan.clear()  # set by the service once it has applied a change
                settings.write_text(base + edited)  # again: the watcher may start late
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(service._replan.wait(), 2.0)
            stop.set()
            await reloader
            second = resources.ctx
    finally:
        service.close()

    assert second is not first
    assert second.settings.fetch.max_bytes == 1000
    assert second.policy.default == timedelta(hours=2)
    assert second.session is not first.session and first.session.closed
    assert service._queue.limit == 7  # fetch.concurrency
