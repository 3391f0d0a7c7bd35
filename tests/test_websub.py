"""WebSub against a local hub written for the test, and the pure decisions behind it.

The hub is an aiohttp handler on the feed server: it takes the subscribe
request, then (like a real hub, asynchronously) sends the verification GET to
the callback and records the answer. Content is pushed by the test with and
without a valid ``X-Hub-Signature``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from service.config.models import FeedConfig
from service.poller.parse import parse_feed
from service.storage.database import Database
from service.storage.feeds import FeedStore
from service.storage.websub import WebSubStore, WebSubSubscription
from service.websub import (
    content_signature,
    needs_request,
    next_check,
    renewal_due,
    signature_valid,
)
from tests.feedserver import FeedServer
from tests.scenario import AlertInbox, scenario_env
from tests.test_ops_endpoints import RunningService

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


# --- pure ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_signature_of_every_method_is_checked(method: str) -> None:
    body = b"<feed/>"
    header = content_signature("s3cret", body, method)
    assert signature_valid("s3cret", header, body)
    assert signature_valid("s3cret", header.upper().replace(method.upper(), method), body)
    assert not signature_valid("other", header, body)
    assert not signature_valid("s3cret", header, body + b" ")


@pytest.mark.parametrize("header", [None, "", "sha256", "sha256=", "md5=abc", "nonsense"])
def test_missing_or_malformed_signatures_are_refused(header: str | None) -> None:
    assert not signature_valid("s3cret", header, b"body")


def _sub(**changes: object) -> WebSubSubscription:
    base = WebSubSubscription(
        id=1, feed_id=1, feed_url="https://x.example/feed", topic="https://x.example/feed",
        hub="https://hub.example/", secret="s", state="active", requested_at=None,
        verified_at=NOW, lease_expires_at=NOW + timedelta(days=5), last_push_at=None,
        last_error=None)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_leases_are_renewed_before_they_end() -> None:
    renew = timedelta(hours=12)
    week_ago = NOW - timedelta(days=7)
    assert not needs_request(_sub(), NOW, renew)
    assert needs_request(_sub(verified_at=week_ago, lease_expires_at=NOW + timedelta(hours=11)),
                         NOW, renew)
    assert needs_request(_sub(verified_at=week_ago, lease_expires_at=NOW - timedelta(hours=1)),
                         NOW, renew)


def test_short_leases_are_renewed_halfway_and_the_loop_wakes_for_them() -> None:
    renew = timedelta(hours=12)
    short = _sub(verified_at=NOW, lease_expires_at=NOW + timedelta(seconds=10))
    assert renewal_due(short, renew) == NOW + timedelta(seconds=5)
    assert not needs_request(short, NOW + timedelta(seconds=4), renew)
    assert needs_request(short, NOW + timedelta(seconds=5), renew)
    assert next_check([short, _sub()], NOW, renew) == NOW + timedelta(seconds=5)
    assert next_check([_sub()], NOW, renew) == NOW + timedelta(minutes=1)
    waiting = replace(short, requested_at=NOW)  # renewal already asked for: not again
    assert next_check([waiting], NOW, renew) == NOW + timedelta(minutes=1)
    overdue = replace(short, lease_expires_at=NOW - timedelta(seconds=1))  # e.g. a removed feed
    assert next_check([overdue], NOW, renew) == NOW + timedelta(minutes=1)


def test_outstanding_and_denied_requests_wait() -> None:
    renew = timedelta(hours=12)
    waiting = _sub(state="pending", requested_at=NOW - timedelta(minutes=5))
    assert not needs_request(waiting, NOW, renew)
    assert needs_request(replace(waiting, requested_at=NOW - timedelta(hours=2)), NOW, renew)
    assert not needs_request(_sub(state="denied"), NOW, renew)
    assert needs_request(_sub(state="pending"), NOW, renew)  # a failed request, retried


def test_secret_never_printed() -> None:
    assert "s3cret-value" not in repr(_sub(secret="s3cret-value"))


def test_feeds_advertise_hub_and_self() -> None:
    parsed = parse_feed(_feed("http://hub.example/hub", "/feed.xml", []), "http://x.example/a")
    assert (parsed.hub, parsed.self_url) == ("http://hub.example/hub", "http://x.example/feed.xml")
    plain = parse_feed(b'<rss version="2.0"><channel><title>T</title></channel></rss>',
                       "http://x.example/a")
    assert (plain.hub, plain.self_url) == (None, None)


def test_json_feeds_advertise_hubs() -> None:
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J",
                       "feed_url": "https://x.example/feed.json",
                       "hubs": [{"type": "WebSub", "url": "https://hub.example/"}],
                       "items": [{"id": "1", "title": "T", "url": "https://x.example/1"}]})
    parsed = parse_feed(body.encode(), "https://x.example/feed.json")
    assert (parsed.hub, parsed.self_url) == ("https://hub.example/", "https://x.example/feed.json")


def test_subscriptions_are_stored_and_renewed_in_place(database: Database) -> None:
    feeds = FeedStore(database)
    state = feeds.sync([FeedConfig(url="https://x.example/feed")], NOW)["https://x.example/feed"]
    store = WebSubStore(database)
    first = store.request(state.id, "https://x.example/feed", "https://hub.example/", "k1", NOW)
    assert (first.state, first.requested_at, first.secret) == ("pending", NOW, "k1")
    store.verified(first.id, NOW, NOW + timedelta(days=7))
    renewal = store.request(state.id, "https://x.example/feed", "https://hub.example/", "k2",
                            NOW + timedelta(days=6))
    assert (renewal.id, renewal.state, renewal.secret) == (first.id, "active", "k1")
    moved = store.request(state.id, "https://x.example/feed", "https://hub2.example/", "k3", NOW)
    assert (moved.state, moved.secret, moved.hub) == ("pending", "k3", "https://hub2.example/")
    store.denied(moved.id, "no thanks")
    found = store.get(moved.id)
    assert found is not None and (found.state, found.last_error) == ("denied", "no thanks")
    assert [s.feed_url for s in store.all()] == ["https://x.example/feed"]


# --- against a local hub ----------------------------------------------------------------


def _item(guid: str, title: str) -> str:
    return (f"<item><guid>{guid}</guid><title>{title}</title>"
            f"<link>https://news.example/{guid}</link>"
            f"<description>{title}. More on this later.</description></item>")


def _feed(hub: str, self_url: str, items: list[str]) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f'<channel><title>Pushed News</title><atom:link rel="hub" href="{hub}"/>'
        f'<atom:link rel="self" href="{self_url}"/>{"".join(items)}</channel></rss>'
    ).encode()


@dataclass
class Hub:
    """A WebSub hub: records subscribe requests and the answers to its verifications."""

    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[tuple[str, int, str]] = field(default_factory=list)  # (what, status, body)
    lock: threading.Condition = field(default_factory=threading.Condition)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    leases: list[str] = field(default_factory=list)  # granted in order, then 3600

    async def handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        with self.lock:
            self.requests.append(form)
            lease = self.leases.pop(0) if self.leases else "3600"
            self.lock.notify_all()
        task = asyncio.get_running_loop().create_task(self._verify(form, lease))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.Response(status=202)

    async def _verify(self, form: dict[str, str], lease: str) -> None:
        callback = form["hub.callback"]
        async with aiohttp.ClientSession() as session:
            # a forged verification for another topic must not be echoed
            await self._ask(session, callback, "wrong-topic", {
                "hub.mode": "subscribe", "hub.topic": "https://evil.example/",
                "hub.challenge": "nope", "hub.lease_seconds": "3600"})
            await self._ask(session, callback, "subscribe", {
                "hub.mode": "subscribe", "hub.topic": form["hub.topic"],
                "hub.challenge": "challenge-" + secrets.token_hex(8),
                "hub.lease_seconds": lease})

    async def _ask(self, session: aiohttp.ClientSession, url: str, what: str,
                   params: dict[str, str]) -> None:
        async with session.get(url, params=params) as response:
            entry = (what, response.status, await response.text())
        with self.lock:
            self.verifications.append(entry)
            self.lock.notify_all()

    def wait_requests(self, count: int, timeout: float) -> list[dict[str, str]]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def wait_verified(self, timeout: float) -> list[tuple[str, int, str]]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.verifications) >= 2, timeout=timeout)
            return list(self.verifications)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


WATCHLIST = ('entities: [{id: a, name: Aliyev}]\n'
             'subscriptions: [{id: s, notify: ["${ALERTS_URL}"], entities: [a]}]\n')


def test_hub_verification_signed_push_alerts_unsigned_refused(tmp_path: Path) -> None:
    with FeedServer() as server:
        hub = Hub(leases=["2"])  # a short first lease: renewed after a second
        server.add("/hub", hub.handle)
        feed_url = server.url("/feed.xml")
        server.reply("/feed.xml", _feed(server.url("/hub"), feed_url,
                                        [_item("old", "Weather report")]))
        inbox = AlertInbox(server)
        port = _free_port()
        config = tmp_path / "config"
        (config / "watchlists").mkdir(parents=True)
        (config / "watchlists" / "w.yaml").write_text(WATCHLIST)
        (config / "feeds.yaml").write_text(json.dumps({"feeds": [{"url": feed_url}]}))
        (config / "newswatch.yaml").write_text(json.dumps({
            "database_url": f"sqlite:///{tmp_path / 'nw.db'}",
            "fetch": {"allow_private_addresses": True}, "web": {"port": port},
            "websub": {"callback_url": f"http://127.0.0.1:{port}/websub/callback"},
        }))
        service = RunningService(config, scenario_env(inbox, config))
        try:
            service.wait_for("websub subscription verified")
            verifications = hub.wait_verified(timeout=60)
            form = hub.requests[0]
            assert form["hub.mode"] == "subscribe" and form["hub.topic"] == feed_url
            assert int(form["hub.lease_seconds"]) == 7 * 24 * 3600
            assert len(form["hub.secret"]) >= 32
            wrong, right = verifications[:2]
            assert wrong[0] == "wrong-topic" and wrong[1] == 404 and "nope" not in wrong[2]
            assert right[1] == 200 and right[2].startswith("challenge-")
            callback = form["hub.callback"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/feeds", timeout=10) as r:
                assert [f["websub"] for f in json.load(r)["feeds"]] == ["active"]

            unsigned = _feed(form["hub.callback"], feed_url, [_item("u1", "Aliyev unsigned")])
            assert _post(callback, unsigned, {"Content-Type": "application/rss+xml"}) == 202
            forged = _feed(form["hub.callback"], feed_url, [_item("f1", "Aliyev forged")])
            bad = content_signature("not-the-secret", forged, "sha256")
            assert _post(callback, forged, {"X-Hub-Signature": bad}) == 202
            signed = _feed(form["hub.callback"], feed_url, [_item("s1", "Aliyev signed")])
            good = content_signature(form["hub.secret"], signed, "sha1")
            assert _post(callback, signed, {"X-Hub-Signature": good,
                                            "Content-Type": "application/rss+xml"}) == 202
            inbox.wait_for(1, timeout=60)
            assert _post(callback.rsplit("/", 1)[0] + "/999", signed,
                         {"X-Hub-Signature": good}) == 404
            renewal = hub.wait_requests(2, timeout=60)[1]
            assert renewal == form  # same callback, topic, lease asked and secret
        finally:
            assert service.stop() == 0
        assert service.count("websub push ignored: missing or bad signature") == 2
        titles = [article for _, article in inbox.alerts()]
        assert titles == ["Aliyev signed"]


def test_hub_fed_feeds_are_polled_at_most_every_poll_interval(sqlite_url: str) -> None:
    from service.config.models import FetchSettings, WebSubSettings
    from service.storage.articles import ArticleStore
    from service.websub import WebSub

    database = Database.open(sqlite_url)
    try:
        settings = WebSubSettings(callback_url="http://127.0.0.1:1/websub/callback",
                                  poll_interval=timedelta(hours=6))

        class NoDispatch:
            def submit(self, article_ids: object) -> None:
                raise AssertionError("nothing is pushed here")

        websub = WebSub(settings, FetchSettings(), WebSubStore(database), ArticleStore(database),
                        NoDispatch(), lambda: NOW)  # type: ignore[arg-type]
        soon = NOW + timedelta(minutes=15)
        assert websub.poll_due("https://x.example/feed", soon, NOW) == soon
        websub._fed.add("https://x.example/feed")
        assert websub.poll_due("https://x.example/feed", soon, NOW) == NOW + timedelta(hours=6)
        later = NOW + timedelta(days=1)
        assert websub.poll_due("https://x.example/feed", later, NOW) == later
    finally:
        database.close()


async def test_hub_requests_keep_the_fetch_rules_and_take_reloaded_fetch_settings(
    sqlite_url: str,
) -> None:
    """The hub URL comes from feed content: a private address is refused unless
    allowed, a redirect is not followed, and a reloaded ``fetch.*`` gives the hub
    requests a new HTTP session (the old one, whose resolver refused loopback
    names, is closed)."""
    from service.config.models import FetchSettings, WebSubSettings
    from service.storage.articles import ArticleStore
    from service.websub import WebSub

    class NoDispatch:
        def submit(self, article_ids: object) -> None:
            raise AssertionError("nothing is pushed here")

    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()
    hub_paths: list[str] = []

    async def hub(request: web.Request) -> web.StreamResponse:  # the server's own thread
        hub_paths.append(request.path)
        loop.call_soon_threadsafe(arrived.set)
        return web.Response(status=202)

    database = Database.open(sqlite_url)
    with FeedServer() as server:
        server.add("/hub", hub)
        server.reply("/moved", status=307, headers={"Location": server.url("/hub")})
        named, literal = server.url("/a.xml", host="localhost"), server.url("/b.xml")
        states = FeedStore(database).sync([FeedConfig(url=named), FeedConfig(url=literal)], NOW)
        store = WebSubStore(database)
        websub = WebSub(WebSubSettings(callback_url="http://127.0.0.1:1/websub/callback"),
                        FetchSettings(), store, ArticleStore(database),
                        NoDispatch(), lambda: NOW)  # type: ignore[arg-type]
        websub.advertised(states[named], parse_feed(
            _feed(server.url("/hub", host="localhost"), named, []), named))
        websub.advertised(states[literal], parse_feed(
            _feed(server.url("/moved"), literal, []), literal))

        sessions: list[aiohttp.ClientSession] = []
        rounds = asyncio.Event()
        check = websub.check

        async def recorded_check(session: aiohttp.ClientSession) -> datetime:
            sessions.append(session)
            try:
                return await check(session)
            finally:
                rounds.set()

        websub.check = recorded_check  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(websub.run_until(stop))
        try:
            await asyncio.wait_for(rounds.wait(), timeout=60)
            errors = {s.feed_url: s.last_error or "" for s in store.all()}
            assert "refused private address for host localhost" in errors[named]  # resolver
            assert "refused private address" in errors[literal]
            assert hub_paths == [] and server.requests == []

            websub.reconfigure(websub.settings, FetchSettings(allow_private_addresses=True))
            await asyncio.wait_for(arrived.wait(), timeout=60)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=60)
            database.close()
    assert len(sessions) >= 2 and sessions[-1] is not sessions[0] and sessions[0].closed
    assert hub_paths == ["/hub"]  # the 307 from /moved was not followed
    assert [r.path for r in server.requests].count("/moved") == 1
    reopened = Database.open(sqlite_url)
    try:
        errors = {s.feed_url: s.last_error or "" for s in WebSubStore(reopened).all()}
    finally:
        reopened.close()
    assert errors[named] == "" and "307" in errors[literal]
