"""Hostile servers: every safety rule of the fetcher against a real local server.

Loopback in every spelling, a redirect into the private network, a 1 GiB
gzip bomb and a brotli bomb streamed, an endless chunked body, a server that
accepts and says nothing, a redirect loop, and many hanging feeds that must
not delay a healthy one.
"""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator

import brotli  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from service import USER_AGENT
from service.config.models import FetchSettings
from service.poller import FetchResult, GuardedResolver, fetch_feed, make_session
from tests.feedserver import FeedServer

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
GUARDED = FetchSettings(timeout_seconds=5, connect_timeout_seconds=5)
LOCAL = GUARDED.model_copy(update={"allow_private_addresses": True})
GIB = 1 << 30
MIB = 1 << 20


async def fetch(url: str, settings: FetchSettings = LOCAL) -> FetchResult:
    async with make_session(settings) as session:
        return await fetch_feed(session, url, etag=None, last_modified=None, settings=settings)


def kind(result: FetchResult) -> str | None:
    return result.error.kind if result.error else None


# --- loopback in every spelling ------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost",
     "LocalHost", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::1]"],
)  # fmt: skip
async def test_every_loopback_spelling_is_refused(server: FeedServer, host: str) -> None:
    server.reply("/feed.xml", RSS)

    result = await fetch(server.url("/feed.xml", host=host), GUARDED)

    assert kind(result) == "refused-private", result.error
    assert server.requests == []


class TrustedName(AbstractResolver):
    """Resolves one trusted name to the local server (a stand-in for a public host)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != "feeds.test":
            raise OSError(f"unknown host {host}")
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port,
                              family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "[::ffff:7f00:1]"])
async def test_redirect_to_an_odd_loopback_spelling_is_refused(
    server: FeedServer, host: str
) -> None:
    server.reply("/feed.xml", status=302, headers={"Location": server.url("/inner", host)})
    server.reply("/inner", RSS)
    resolver = GuardedResolver(TrustedName(), allowed_hosts={"feeds.test"})

    async with make_session(GUARDED, resolver=resolver) as session:
        result = await fetch_feed(session, server.url("/feed.xml", "feeds.test"), etag=None,
                                  last_modified=None, settings=GUARDED)

    assert kind(result) == "refused-private"
    assert [r.path for r in server.requests] == ["/feed.xml"]


# --- bodies that never end ---------------------------------------------------------------


def gzip_stream(total: int) -> Iterator[bytes]:
    """``total`` zero bytes as one gzip stream, compressed as it is sent."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    for _ in range(total // MIB):
        yield compressor.compress(zeros)
    yield compressor.flush()


def brotli_stream(total: int) -> Iterator[bytes]:
    compressor = brotli.Compressor(quality=1)
    zeros = bytes(MIB)
    for _ in range(total // MIB):
        yield compressor.process(zeros)
    yield compressor.finish()


Stream = Callable[[int], Iterator[bytes]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bomb_handler(make: Stream, encoding: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Encoding": encoding})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in make(GIB):
            if request.transport is None or request.transport.is_closing():
                break  # the client hung up, as it should
            if chunk:
                await response.write(chunk)
        return response

    return handler


@pytest.mark.parametrize(("make", "encoding"), [(gzip_stream, "gzip"), (brotli_stream, "br")])
async def test_a_1_gib_bomb_is_cut_at_the_cap_without_holding_it(
    server: FeedServer, make: Stream, encoding: str
) -> None:
    server.add("/bomb.xml", bomb_handler(make, encoding))
    settings = LOCAL  # the default cap: 15 MB after decompression

    tracemalloc.start()
    try:
        result = await fetch(server.url("/bomb.xml"), settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert kind(result) == "too-large"
    assert peak < 2 * settings.max_bytes + 8 * MIB  # about the cap, never the gigabyte


async def test_an_endless_chunked_body_is_cut_at_the_cap(server: FeedServer) -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        while request.transport is not None and not request.transport.is_closing():
            await response.write(b"<item>" * 10_000)
            sent += 60_000
        return response

    server.add("/endless.xml", endless)

    result = await fetch(server.url("/endless.xml"), LOCAL.model_copy(update={"max_bytes": MIB}))

    assert kind(result) == "too-large"
    assert sent < 64 * MIB


# --- servers that say nothing ------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A socket that accepts connections (the kernel does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_accept_then_silence_times_out_at_the_deadline(silent_port: int) -> None:
    settings = LOCAL.model_copy(update={"timeout_seconds": 1.0})

    result = await fetch(f"http://127.0.0.1:{silent_port}/feed.xml", settings)

    assert kind(result) == "timeout"
    assert result.error is not None and "1 s" in result.error.message


async def test_one_byte_a_second_is_stopped_at_the_deadline(server: FeedServer) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"x")
            await asyncio.sleep(1)  # the hostile server's pace, not a wait of the test
        return response

    server.add("/slow.xml", trickle)

    result = await fetch(server.url("/slow.xml"), LOCAL.model_copy(update={"timeout_seconds": 2}))

    assert kind(result) == "timeout"


# --- redirects -----------------------------------------------------------------------------


async def test_a_redirect_loop_stops_at_the_limit(server: FeedServer) -> None:
    server.reply("/a", status=302, headers={"Location": "/b"})
    server.reply("/b", status=302, headers={"Location": "/a"})

    result = await fetch(server.url("/a"))

    assert kind(result) == "redirects"
    assert len(server.requests) == LOCAL.max_redirects + 1


async def test_the_user_agent_names_newswatch_and_its_url(server: FeedServer) -> None:
    server.reply("/feed.xml", RSS)

    await fetch(server.url("/feed.xml"))

    agent = server.requests_to("/feed.xml")[0].headers["User-Agent"]
    assert agent == USER_AGENT and agent.startswith("newswatch/") and "(+http" in agent


# --- many hanging feeds never delay a healthy one ------------------------------------------


async def test_hanging_feeds_do_not_delay_a_healthy_one(server: FeedServer) -> None:
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(release.wait(), loop))
        return web.Response(body=RSS)

    server.add("/hang.xml", hang)
    server.reply("/ok.xml", RSS)
    settings = LOCAL.model_copy(update={"timeout_seconds": 30, "per_host_concurrency": 100})

    async with make_session(settings) as session:
        hanging = [
            asyncio.create_task(fetch_feed(session, server.url(f"/hang.xml?{i}"), etag=None,
                                           last_modified=None, settings=settings))
            for i in range(50)
        ]
        healthy = await fetch_feed(session, server.url("/ok.xml"), etag=None,
                                   last_modified=None, settings=settings)
        still_hanging = sum(not t.done() for t in hanging)
        release.set()
        await asyncio.gather(*hanging)

    assert healthy.error is None and healthy.body == RSS
    assert still_hanging == 50
