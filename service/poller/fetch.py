"""Fetching one feed over HTTP, within the limits that keep the poller safe.

This is the I/O edge of the poller. It turns one URL (and the validators of the
last fetch) into a :class:`FetchResult` and never raises for a feed problem:
a feed that fails is that feed's result, so one bad feed never stops a run.

Limits (DESIGN.md, "Delivery guarantees"): http(s) only; private addresses
refused at connect time and after every redirect unless
``fetch.allow_private_addresses``; at most ``max_redirects`` redirects,
followed by hand so each hop is checked; the body capped after decompression
while it streams in; one deadline for the whole fetch, which also stops a
server that trickles a byte a second.

Error kinds: ``dns``, ``connect``, ``timeout``, ``http``, ``too-large``,
``redirects``, ``refused-private``, ``bad-url``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from service import USER_AGENT
from service.config.models import FetchSettings
from service.errors import FetchError
from service.poller.guard import GuardedResolver, check_url_host

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
ENCODINGS = "gzip, deflate, br"  # each decoded in bounded steps, so the cap holds
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch of one feed gave: a body, "not modified", or an error.

    ``url`` is the URL asked for, ``final_url`` the one that answered (after
    redirects). ``permanent_redirect`` is where the leading 301/308 hops of
    the redirect chain point: the URL to store for the feed from now on.
    """

    url: str
    final_url: str
    status: int | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    permanent_redirect: str | None = None
    retry_after: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    error: FetchError | None = None

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304: the stored copy is current."""
        return self.status == 304 and self.error is None


def make_session(
    settings: FetchSettings, *, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A client session configured for polling feeds; call it inside a running loop.

    ``resolver`` replaces the connector's resolver (a seam for tests and for
    trusted-host allowlists); by default host names go through
    :class:`GuardedResolver` unless private addresses are allowed.
    """
    if resolver is None and not settings.allow_private_addresses:
        resolver = GuardedResolver()
    connector = aiohttp.TCPConnector(
        resolver=resolver,
        limit=settings.concurrency,
        limit_per_host=settings.per_host_concurrency,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=_client_timeout(settings),
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": ENCODINGS},
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        trust_env=False,
    )


def _client_timeout(settings: FetchSettings) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=settings.timeout_seconds,
        connect=settings.connect_timeout_seconds,
        sock_read=settings.timeout_seconds,
    )


class _Trail:
    """What is known about a fetch so far, so an error can still report it."""

    def __init__(self, url: str) -> None:
        self.final_url = url
        self.status: int | None = None
        self.retry_after: str | None = None
        self.permanent: str | None = None
        self._all_permanent = True

    def redirected(self, status: int, target: str) -> None:
        self._all_permanent = self._all_permanent and status in _PERMANENT
        if self._all_permanent:
            self.permanent = target
        self.final_url = target


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    settings: FetchSettings,
) -> FetchResult:
    """Fetch ``url`` with a conditional GET; every failure is in ``.error``."""
    trail = _Trail(url)
    headers = _conditional_headers(etag, last_modified)
    try:
        async with asyncio.timeout(settings.timeout_seconds):
            return await _follow(session, url, headers, settings, trail)
    except FetchError as error:
        return _failed(url, trail, error)
    except (aiohttp.ClientError, OSError, ValueError) as exc:  # TimeoutError is an OSError
        return _failed(url, trail, _classify(exc, settings))


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _failed(url: str, trail: _Trail, error: FetchError) -> FetchResult:
    return FetchResult(
        url=url,
        final_url=trail.final_url,
        status=trail.status,
        permanent_redirect=trail.permanent,
        retry_after=trail.retry_after,
        error=error,
    )


async def _follow(
    session: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str],
    settings: FetchSettings,
    trail: _Trail,
) -> FetchResult:
    """Request ``url`` and follow up to ``max_redirects`` redirects by hand."""
    current = url
    for _ in range(settings.max_redirects + 1):
        check_url(current, settings.allow_private_addresses)
        async with session.get(current, headers=headers, allow_redirects=False) as resp:
            trail.status = resp.status
            trail.retry_after = resp.headers.get("Retry-After")
            target = _redirect_target(current, resp)
            if target is None:
                return await _answer(url, resp, trail, settings)
        trail.redirected(resp.status, target)
        current = target
    raise FetchError("redirects", f"more than {settings.max_redirects} redirects: {url}")


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s) with a host, or names a refused IP."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise FetchError("bad-url", f"invalid URL: {url}: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("bad-url", f"not an http(s) URL: {url}")
    if not host:
        raise FetchError("bad-url", f"URL has no host: {url}")
    check_url_host(url, allow_private)


def _redirect_target(current: str, resp: aiohttp.ClientResponse) -> str | None:
    location = resp.headers.get("Location")
    if resp.status not in _REDIRECTS or not location:
        return None
    return urljoin(current, location.strip())


async def _answer(
    url: str, resp: aiohttp.ClientResponse, trail: _Trail, settings: FetchSettings
) -> FetchResult:
    """The result for a response that is not a redirect."""
    if resp.status == 304:
        return _result(url, resp, trail, body=None)
    if not 200 <= resp.status < 300:
        raise FetchError("http", f"HTTP {resp.status} {resp.reason or ''}".rstrip())
    body = await read_capped(resp, settings.max_bytes)
    return _result(url, resp, trail, body=body)


def _result(
    url: str, resp: aiohttp.ClientResponse, trail: _Trail, *, body: bytes | None
) -> FetchResult:
    return FetchResult(
        url=url,
        final_url=trail.final_url,
        status=resp.status,
        body=body,
        etag=resp.headers.get("ETag"),
        last_modified=resp.headers.get("Last-Modified"),
        content_type=resp.headers.get("Content-Type"),
        permanent_redirect=trail.permanent,
        retry_after=trail.retry_after,
        cache_control=resp.headers.get("Cache-Control"),
        expires=resp.headers.get("Expires"),
    )


async def read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The decompressed body, refused as too-large as soon as it passes ``max_bytes``."""
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> FetchError:
    return FetchError("too-large", f"body larger than {max_bytes} bytes")


def _classify(exc: BaseException, settings: FetchSettings) -> FetchError:
    """Map a foreign exception to a FetchError with a stable kind."""
    kind, message = _kind_of(exc)
    if kind == "timeout":
        message = f"no complete answer within {settings.timeout_seconds:g} s"
    return FetchError(kind, message)


def _connector_error(exc: aiohttp.ClientConnectorError) -> tuple[str, str]:
    """A sentence a person reads: "cannot resolve host x: reason", not aiohttp's repr."""
    reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", f"cannot resolve host {exc.host}: {reason}"
    return "connect", f"cannot connect to {exc.host}:{exc.port}: {reason}"


_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "timeout"),
    (aiohttp.ClientConnectorDNSError, "dns"),
    (aiohttp.InvalidURL, "bad-url"),
    (aiohttp.ClientConnectorError, "connect"),
    (aiohttp.ClientPayloadError, "http"),
    (aiohttp.ClientResponseError, "http"),
    (aiohttp.ClientError, "connect"),
    (OSError, "connect"),
    (ValueError, "bad-url"),
)


def _kind_of(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connector_error(exc)
    for exc_type, kind in _KINDS:
        if isinstance(exc, exc_type):
            return kind, str(exc) or type(exc).__name__
    return "connect", f"{type(exc).__name__}: {exc}"
