"""Retry-After from generic webhooks: parsed, honoured as a floor, capped, counted.

The local json:// endpoint answers 429/503 with Retry-After (seconds or an
HTTP-date read against the test's clock); nothing sleeps. Our webhook
plugins must post exactly what apprise's own json/form/xml plugins post.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import apprise
import pytest
from aiohttp import web

from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import build_channel, build_channels, retry_after
from service.notify.sender import RETRY_AFTER_CAP, AlertSender, Recipient, Waiting
from service.notify.webhooks import (
    OneTryDiscord,
    WebhookForm,
    WebhookJSON,
    WebhookSlack,
    WebhookXML,
)
from service.rendering import Message
from service.storage import AlertStore, Database
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, store_alerts
from tests.waiting import wait_until

T0 = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120", T0) == timedelta(seconds=120)
    assert retry_after(" 0 ", T0) is None
    later = format_datetime(T0 + timedelta(minutes=20), usegmt=True)
    assert retry_after(later, T0) == timedelta(minutes=20)
    assert retry_after("Wed, 27 May 2026 12:00:30 GMT", T0) == timedelta(seconds=30)
    assert retry_after(format_datetime(T0 - timedelta(hours=1), usegmt=True), T0) is None
    assert retry_after("soon", T0) is None
    assert retry_after("-5", T0) is None
    assert retry_after("", T0) is None and retry_after(None, T0) is None
    assert retry_after("9" * 40, T0) == timedelta(days=1)  # capped (the sender caps at 1 h)


@pytest.mark.parametrize(("scheme", "cls"), [
    ("json", WebhookJSON), ("form", WebhookForm), ("xml", WebhookXML),
])
def test_generic_webhooks_post_what_apprise_posts(
    server: FeedServer, scheme: str, cls: type
) -> None:
    bodies: dict[str, tuple[str, str, str, str | None]] = {}

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            bodies[name] = (request.method, request.query_string, await request.text(),
                            request.headers.get("X-Desk"))
            return web.Response(text="ok")
        return handle

    options = "?+X-Desk=caucasus&-key=v&:extra=1&:message=text"
    for name in ("apprise", "ours"):
        server.add(f"/{name}", recorder(name))
    url = f"{scheme}://u:p@127.0.0.1:{server.port}/%s{options}"
    channel = build_channel(0, url % "ours")
    assert isinstance(channel.plugin, cls)
    stock = apprise.Apprise()
    stock.add(url % "apprise")
    message = Message(title="Pardon <b>&</b>", body="Aliyev <pardoned> & \"freed\"", kind="text")
    assert stock.notify(body=message.body, title=message.title)
    assert channel.send(message, T0).ok
    assert bodies["ours"] == bodies["apprise"]
    assert "Aliyev" in bodies["ours"][2] and bodies["ours"][3] == "caucasus"


@pytest.mark.parametrize(("status", "header", "floor"), [
    (429, "120", timedelta(seconds=120)),
    (503, format_datetime(T0 + timedelta(minutes=20), usegmt=True), timedelta(minutes=20)),
])
def test_a_refusal_with_retry_after_is_reported_by_the_channel(
    server: FeedServer, status: int, header: str, floor: timedelta
) -> None:
    endpoint = JsonEndpoint(server, statuses=[status], headers={"Retry-After": header})
    channel = build_channel(0, endpoint.apprise_url)
    delivery = channel.send(Message(title="t", body="b"), T0)
    assert not delivery.ok and delivery.retry_after == floor
    assert channel.send(Message(title="t", body="b"), T0).ok
    assert endpoint.attempts == 2 and len(endpoint.received) == 1


def _sender(database: Database, url: str) -> AlertSender:
    sub = SubscriptionConfig(id="desk", notify=(url,), entities=("ilham-aliyev",))
    return AlertSender(AlertStore(database), {"desk": Recipient(sub, build_channels(sub.notify))},
                       {}, AlertSettings(max_attempts=3), rng=random.Random(6))


def _pending(database: Database) -> tuple[int, datetime]:
    (summary,) = AlertStore(database).recent(T0 - timedelta(days=1))
    assert summary.state == "pending" and summary.next_attempt_at is not None
    return summary.attempts, summary.next_attempt_at


@pytest.mark.parametrize(("status", "header", "wait"), [
    (429, "600", timedelta(minutes=10)),
    (503, format_datetime(T0 + timedelta(minutes=20), usegmt=True), timedelta(minutes=20)),
    (429, "86400", RETRY_AFTER_CAP),  # a day asked: capped
    (503, format_datetime(T0 + timedelta(days=3), usegmt=True), RETRY_AFTER_CAP),
])
def test_the_sender_waits_at_least_retry_after_and_counts_the_attempt(
    database: Database, server: FeedServer, status: int, header: str, wait: timedelta
) -> None:
    endpoint = JsonEndpoint(server, statuses=[status], headers={"Retry-After": header})
    store_alerts(database, ["desk"], 1, T0)
    sender = _sender(database, endpoint.apprise_url)
    report = sender.send_due(lambda: T0)
    assert (report.sent, report.failed) == (0, 1)
    attempts, next_at = _pending(database)
    assert attempts == 1
    assert next_at == T0 + wait  # backoff alone would be 15-30 s
    assert sender.send_due(lambda: next_at - timedelta(seconds=1)).sent == 0  # not before
    assert endpoint.attempts == 1
    assert sender.send_due(lambda: next_at).sent == 1
    assert (endpoint.attempts, len(endpoint.received)) == (2, 1)


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, statuses=[429], headers={"Retry-After": "1"})
    store_alerts(database, ["desk"], 1, T0)
    _sender(database, endpoint.apprise_url).send_due(lambda: T0)
    _, next_at = _pending(database)
    assert timedelta(seconds=15) <= next_at - T0 <= timedelta(seconds=30)


def test_slack_s_incoming_webhook_reports_retry_after(server: FeedServer) -> None:
    answers = [web.Response(status=429, headers={"Retry-After": "90"}, text="rate_limited"),
               web.Response(text="ok")]
    posted: list[str] = []

    async def hook(request: web.Request) -> web.StreamResponse:
        posted.append(await request.text())
        return answers.pop(0)

    server.add("/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", hook)
    channel = build_channel(0, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/")
    assert isinstance(channel.plugin, WebhookSlack) and channel.kind == "slack"
    channel.plugin.webhook_url = server.url("/services")  # this plugin object only
    message = Message(title="Pardon", body="Aliyev *pardoned*", kind="slack")
    refused = channel.send(message, T0)
    assert not refused.ok and refused.retry_after == timedelta(seconds=90)
    assert channel.send(message, T0).ok
    assert len(posted) == 2 and all("Aliyev _pardoned_" in p for p in posted)


def test_a_channel_that_asked_to_wait_is_left_alone_by_the_rest_of_the_batch(
    database: Database, server: FeedServer
) -> None:
    good = JsonEndpoint(server, "/good")
    limited = JsonEndpoint(server, "/limited", statuses=[429], headers={"Retry-After": "600"})
    sub = SubscriptionConfig(id="desk", notify=(good.apprise_url, limited.apprise_url))
    sender = AlertSender(AlertStore(database), {"desk": Recipient(sub, build_channels(sub.notify))},
                         {}, AlertSettings(), rng=random.Random(6))
    store_alerts(database, ["desk"], 3, T0)
    report = sender.send_due(lambda: T0)
    assert (report.sent, report.failed, report.deferred) == (0, 1, 2)
    assert (good.attempts, limited.attempts) == (3, 1)  # the limited service asked once only
    rows = sorted(AlertStore(database).recent(T0 - timedelta(days=1)), key=lambda r: r.id)
    assert [r.attempts for r in rows] == [1, 0, 0]  # deferred: no attempt counted
    assert rows[1].last_error == (f"deferred until 2026-05-27 12:10:00 UTC: json://127.0.0.1:"
                                  f"{server.port}/limited asked to wait")
    assert {r.next_attempt_at for r in rows} == {T0 + timedelta(minutes=10)}
    assert sender.waiting(T0) == Waiting(held=2, held_until=T0 + timedelta(minutes=10),
                                         retrying=1, next_retry=T0 + timedelta(minutes=10))
    assert sender.send_due(lambda: T0 + timedelta(minutes=9), ignore_schedule=True).sent == 0
    assert limited.attempts == 1
    assert sender.send_due(lambda: T0 + timedelta(minutes=10)).sent == 3
    assert (len(good.received), len(limited.received)) == (3, 3)  # nobody got one twice


def test_discord_does_not_retry_or_sleep_by_itself_after_a_429(server: FeedServer) -> None:
    reset = int(time.time()) + 120
    posts: list[str] = []

    async def hook(request: web.Request) -> web.StreamResponse:
        posts.append(await request.text())
        return web.Response(status=429, headers={"X-RateLimit-Remaining": "0",
                                                 "X-RateLimit-Reset": str(reset)})

    server.add("/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", hook)
    channel = build_channel(0, "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js")
    assert isinstance(channel.plugin, OneTryDiscord)
    channel.plugin.notify_url = server.url("/api/webhooks")  # this plugin object only
    now = datetime.now(UTC)
    delivery = channel.send(Message(title="t", body="b", kind="markdown"), now)
    assert len(posts) == 1  # apprise's own retry would sleep until the reset, then post again
    assert not delivery.ok and delivery.retry_after is not None
    assert timedelta(seconds=60) < delivery.retry_after <= timedelta(seconds=120)


def test_alerts_through_one_channel_reuse_one_connection(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server)
    store_alerts(database, ["desk"], 5, T0)
    sender = _sender(database, endpoint.apprise_url)
    assert sender.send_due(lambda: T0).sent == 5
    assert sender.send_due(lambda: T0).sent == 0  # a second batch, same channel
    later = T0 + timedelta(minutes=1)
    store_alerts(database, ["desk"], 2, later, title="Later")
    assert sender.send_due(lambda: later).sent == 2
    assert (len(endpoint.received), endpoint.attempts) == (7, 7)
    assert endpoint.connections == 1  # keep-alive: one TCP connection for every alert


@pytest.mark.parametrize("scheme", ["form", "xml"])
def test_form_and_xml_channels_keep_their_connection_too(server: FeedServer, scheme: str) -> None:
    transports: list[object] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        if not any(t is request.transport for t in transports):
            transports.append(request.transport)
        return web.Response(text="ok")

    server.add("/hook", handle)
    channel = build_channel(0, f"{scheme}://127.0.0.1:{server.port}/hook")
    assert all(channel.send(Message(title=f"t{i}", body="b"), T0).ok for i in range(3))
    assert len(server.requests_to("/hook")) == 3 and len(transports) == 1


def test_a_server_that_closes_after_each_answer_gets_every_alert_once(
    database: Database, server: FeedServer
) -> None:
    received: list[str] = []
    transports: list[object] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        received.append(json.loads(await request.text())["title"])
        transports.append(request.transport)
        return web.Response(text="ok", headers={"Connection": "close"})

    server.add("/closing", handle)
    store_alerts(database, ["desk"], 4, T0)
    sender = _sender(database, f"json://127.0.0.1:{server.port}/closing")
    report = sender.send_due(lambda: T0)
    assert (report.sent, report.failed) == (4, 0)
    assert len(received) == 4 and len(set(received)) == 4  # each alert exactly once
    assert len({id(t) for t in transports}) == 4  # a new connection each time


def test_a_connection_the_server_dropped_while_idle_is_replaced(server: FeedServer) -> None:
    endpoint = JsonEndpoint(server, "/idle")
    channel = build_channel(0, endpoint.apprise_url)
    for i in range(3):
        assert channel.send(Message(title=f"t{i}", body="b"), T0).ok
        for transport in endpoint.transports:  # the server closes idle connections
            server._loop.call_soon_threadsafe(transport.close)
        wait_until(lambda: all(t.get_extra_info("socket").fileno() == -1
                               for t in endpoint.transports), "the server to close them")
    assert endpoint.titles() == ["t0", "t1", "t2"] and endpoint.attempts == 3
    assert endpoint.connections == 3


def test_a_connection_broken_mid_request_fails_that_send_only(server: FeedServer) -> None:
    posts: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        posts.append(json.loads(await request.text())["title"])
        if len(posts) == 1:
            assert request.transport is not None
            request.transport.abort()  # no answer: a connection error for the client
            raise ConnectionResetError
        return web.Response(text="ok")

    server.add("/broken", handle)
    channel = build_channel(0, f"json://127.0.0.1:{server.port}/broken")
    broken = channel.send(Message(title="first", body="b"), T0)
    assert not broken.ok and channel.plugin.last_status is None
    assert channel.send(Message(title="second", body="b"), T0).ok  # a new connection
    assert channel.plugin.last_status == 200 and posts == ["first", "second"]


def test_sends_from_several_threads_share_the_channel_s_one_connection(
    server: FeedServer,
) -> None:
    endpoint = JsonEndpoint(server, "/threads")
    channel = build_channel(0, endpoint.apprise_url)

    def send(n: int) -> bool:
        return all(channel.send(Message(title=f"{n}-{i}", body="b"), T0).ok for i in range(3))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(send, range(4)))
    assert sorted(endpoint.titles()) == sorted(f"{n}-{i}" for n in range(4) for i in range(3))
    assert endpoint.connections == 1  # one send at a time through the channel's session


def test_a_webhook_s_cookie_is_not_sent_back_with_the_next_alert(server: FeedServer) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(text="ok", headers={"Set-Cookie": "session=abc; Path=/"})

    server.add("/cookie", handle)
    channel = build_channel(0, f"json://127.0.0.1:{server.port}/cookie")
    assert channel.send(Message(title="a", body="b"), T0).ok
    assert channel.send(Message(title="c", body="d"), T0).ok
    assert [r.headers.get("Cookie") for r in server.requests_to("/cookie")] == [None, None]
