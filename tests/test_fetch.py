"""The fetch edge against a real HTTP server on 127.0.0.1, and the address guard."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
import tracemalloc
import urllib.request
from collections.abc import Mapping

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from service import USER_AGENT
from service.config.models import FetchSettings
from service.errors import FetchError
from service.poller import (
    FetchResult,
    GuardedResolver,
    check_url_host,
    fetch_feed,
    is_refused_address,
    make_session,
)
from tests.feedserver import FeedServer

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LOCAL = FetchSettings(allow_private_addresses=True, timeout_seconds=5, connect_timeout_seconds=5)
GUARDED = FetchSettings(timeout_seconds=5, connect_timeout_seconds=5)


class StaticResolver(AbstractResolver):
    """Resolves names from a table: lets a test give the local server a host name."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._table:
            raise OSError(f"unknown host {host}")
        address = self._table[host]
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


async def fetch(
    url: str,
    settings: FetchSettings = LOCAL,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    resolver: AbstractResolver | None = None,
) -> FetchResult:
    async with make_session(settings, resolver=resolver) as session:
        return await fetch_feed(
            session, url, etag=etag, last_modified=last_modified, settings=settings
        )


def error_kind(result: FetchResult) -> str | None:
    return result.error.kind if result.error else None


# --- successful fetches --------------------------------------------------------


async def test_200_returns_body_validators_and_sends_user_agent(server: FeedServer) -> None:
    headers = {
        "ETag": '"v1"',
        "Last-Modified": "Wed, 01 May 2024 10:00:00 GMT",
        "Content-Type": "application/rss+xml; charset=utf-8",
    }
    server.reply("/feed.xml", RSS, headers=headers)

    result = await fetch(server.url("/feed.xml"))

    assert result.error is None
    assert (result.status, result.body, result.final_url) == (200, RSS, server.url("/feed.xml"))
    assert (result.etag, result.last_modified) == ('"v1"', "Wed, 01 May 2024 10:00:00 GMT")
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert not result.not_modified and result.permanent_redirect is None
    sent = server.requests_to("/feed.xml")[0].headers
    assert sent["User-Agent"] == USER_AGENT
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


async def test_conditional_get_sends_validators_and_304_is_not_modified(
    server: FeedServer,
) -> None:
    server.reply("/feed.xml", status=304, headers={"ETag": '"v2"'})

    result = await fetch(
        server.url("/feed.xml"), etag='"v1"', last_modified="Wed, 01 May 2024 10:00:00 GMT"
    )

    assert result.not_modified and result.error is None and result.body is None
    assert result.etag == '"v2"'
    sent = server.requests_to("/feed.xml")[0].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Wed, 01 May 2024 10:00:00 GMT"


async def test_gzip_body_is_decompressed(server: FeedServer) -> None:
    server.reply("/feed.xml", gzip.compress(RSS), headers={"Content-Encoding": "gzip"})

    result = await fetch(server.url("/feed.xml"))

    assert result.error is None and result.body == RSS
    assert "gzip" in server.requests_to("/feed.xml")[0].headers["Accept-Encoding"]


# --- HTTP errors and size limits -------------------------------------------------


async def test_500_is_an_http_error_that_keeps_the_status(server: FeedServer) -> None:
    server.reply("/feed.xml", b"oops", status=500)

    result = await fetch(server.url("/feed.xml"))

    assert error_kind(result) == "http" and result.status == 500
    assert result.error is not None and result.error.message == "HTTP 500 Internal Server Error"
    assert result.body is None and not result.not_modified


async def test_503_keeps_retry_after(server: FeedServer) -> None:
    server.reply("/feed.xml", status=503, headers={"Retry-After": "120"})

    result = await fetch(server.url("/feed.xml"))

    assert (error_kind(result), result.status, result.retry_after) == ("http", 503, "120")


async def test_body_over_the_cap_is_too_large(server: FeedServer) -> None:
    server.reply("/feed.xml", b"x" * 5000)

    result = await fetch(server.url("/feed.xml"), LOCAL.model_copy(update={"max_bytes": 1000}))

    assert error_kind(result) == "too-large" and result.body is None


async def test_streamed_body_without_length_is_capped(server: FeedServer) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(100):
            if request.transport is None or request.transport.is_closing():
                break  # the client hung up, as it should
            await response.write(b"x" * 1000)
        return response

    server.add("/feed.xml", endless)

    result = await fetch(server.url("/feed.xml"), LOCAL.model_copy(update={"max_bytes": 10_000}))

    assert error_kind(result) == "too-large"


async def test_gzip_bomb_is_capped_after_decompression(server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * 64_000_000, compresslevel=9)
    server.reply("/feed.xml", bomb, headers={"Content-Encoding": "gzip"})
    settings = LOCAL.model_copy(update={"max_bytes": 1_000_000})
    assert len(bomb) < settings.max_bytes

    tracemalloc.start()
    try:
        result = await fetch(server.url("/feed.xml"), settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert error_kind(result) == "too-large"
    assert peak < 16_000_000  # far below the 64 MB the bomb expands to


# --- redirects ------------------------------------------------------------------


def chain(server: FeedServer, hops: int, status: int = 302) -> str:
    """``/r0`` redirects to ``/r1`` ... up to ``/r{hops}``, which serves the feed."""
    for i in range(hops):
        server.reply(f"/r{i}", status=status, headers={"Location": f"/r{i + 1}"})
    server.reply(f"/r{hops}", RSS)
    return server.url("/r0")


async def test_redirects_up_to_the_limit_are_followed(server: FeedServer) -> None:
    url = chain(server, hops=5)

    result = await fetch(url)

    assert result.error is None and result.body == RSS
    assert result.url == url and result.final_url == server.url("/r5")
    assert result.permanent_redirect is None


async def test_redirect_chain_longer_than_the_limit_fails(server: FeedServer) -> None:
    url = chain(server, hops=3)

    result = await fetch(url, LOCAL.model_copy(update={"max_redirects": 2}))

    assert error_kind(result) == "redirects"
    assert server.requests_to("/r3") == []


@pytest.mark.parametrize("status", [301, 308])
async def test_permanent_redirect_is_recorded_and_followed(server: FeedServer, status: int) -> None:
    url = chain(server, hops=1, status=status)

    result = await fetch(url)

    assert result.error is None and result.body == RSS
    assert result.permanent_redirect == server.url("/r1")


async def test_permanent_redirect_stops_at_the_first_temporary_hop(server: FeedServer) -> None:
    server.reply("/old", status=301, headers={"Location": "/moved"})
    server.reply("/moved", status=302, headers={"Location": "/today"})
    server.reply("/today", RSS)

    result = await fetch(server.url("/old"))

    assert result.permanent_redirect == server.url("/moved")
    assert result.final_url == server.url("/today")


async def test_redirect_to_a_non_http_scheme_is_a_bad_url(server: FeedServer) -> None:
    server.reply("/feed.xml", status=302, headers={"Location": "file:///etc/passwd"})

    result = await fetch(server.url("/feed.xml"))

    assert error_kind(result) == "bad-url"


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "http:///x"])
async def test_non_http_urls_are_refused(url: str) -> None:
    result = await fetch(url)

    assert error_kind(result) == "bad-url" and result.status is None


# --- time limits ------------------------------------------------------------------


async def test_trickling_server_times_out_at_the_deadline(server: FeedServer) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"x")
            await asyncio.sleep(0.2)  # the server's behaviour under test, not a wait
        return response

    server.add("/feed.xml", trickle)
    settings = LOCAL.model_copy(update={"timeout_seconds": 1.0})

    started = time.monotonic()
    result = await fetch(server.url("/feed.xml"), settings)

    assert error_kind(result) == "timeout"
    assert time.monotonic() - started < 3.0


# --- network failures ---------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_a_connect_error() -> None:
    result = await fetch(f"http://127.0.0.1:{closed_port()}/feed.xml")

    assert error_kind(result) == "connect"


@pytest.mark.parametrize("settings", [LOCAL, GUARDED], ids=["plain", "guarded"])
async def test_unresolvable_host_is_a_dns_error(settings: FetchSettings) -> None:
    result = await fetch("http://nonexistent.invalid/feed.xml", settings)

    assert error_kind(result) == "dns"


# --- the private-address guard ----------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_unless_allowed(server: FeedServer, host: str) -> None:
    server.reply("/feed.xml", RSS)

    result = await fetch(server.url("/feed.xml", host=host), GUARDED)

    assert error_kind(result) == "refused-private"
    assert server.requests == []


@pytest.mark.parametrize("target_host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_redirect_to_a_private_address_is_refused(
    server: FeedServer, target_host: str
) -> None:
    # "feeds.test" stands for a public feed host: the resolver seam maps it to
    # the local server and trusts it; the hop it redirects to gets no such trust.
    server.reply("/feed.xml", status=302, headers={"Location": server.url("/inner", target_host)})
    server.reply("/inner", RSS)
    resolver = GuardedResolver(
        StaticResolver({"feeds.test": "127.0.0.1", "localhost": "127.0.0.1"}),
        allowed_hosts={"feeds.test"},
    )

    result = await fetch(server.url("/feed.xml", "feeds.test"), GUARDED, resolver=resolver)

    assert error_kind(result) == "refused-private"
    assert [r.path for r in server.requests] == ["/feed.xml"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "224.0.0.1", "0.0.0.0", "240.0.0.1", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1",
        "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::",
    ],
)  # fmt: skip
def test_refused_addresses(address: str) -> None:
    assert is_refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_refused_address(ipaddress.ip_address(address))


def test_check_url_host_refuses_private_ip_literals_only() -> None:
    for url in ("http://127.0.0.1/", "https://[::1]:8443/x", "http://[::ffff:192.168.0.1]/"):
        with pytest.raises(FetchError) as caught:
            check_url_host(url, allow_private=False)
        assert caught.value.kind == "refused-private"
    check_url_host("http://127.0.0.1/", allow_private=True)
    check_url_host("http://8.8.8.8/", allow_private=False)
    check_url_host("http://localhost/", allow_private=False)  # names: the resolver's job


async def test_guarded_resolver_keeps_public_and_refuses_all_private() -> None:
    class Mixed(StaticResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            return [
                ResolveResult(hostname=host, host=a, port=port, family=0, proto=0, flags=0)
                for a in ("10.0.0.1", "93.184.216.34")
            ]

    kept = await GuardedResolver(Mixed({})).resolve("mixed.test", 80)
    assert [r["host"] for r in kept] == ["93.184.216.34"]
    with pytest.raises(FetchError) as caught:
        await GuardedResolver(StaticResolver({"lan.test": "192.168.0.7"})).resolve("lan.test")
    assert caught.value.kind == "refused-private"


def test_feed_server_also_serves_sync_clients(server: FeedServer) -> None:
    server.reply("/plain.xml", RSS, headers={"Content-Type": "application/rss+xml"})
    request = urllib.request.Request(server.url("/plain.xml"), headers={"X-Probe": "1"})

    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == RSS

    assert server.requests_to("/plain.xml")[0].headers["X-Probe"] == "1"
