"""A real local HTTP server for tests that fetch feeds.

It runs an aiohttp web server on ``127.0.0.1`` (a free port) in its own thread
and event loop, so both sync and async tests can use it. Register a canned
reply or a handler per path; every request is recorded with its headers.

    with FeedServer() as server:
        server.reply("/feed.xml", body=b"<rss .../>", headers={"ETag": '"v1"'})
        fetch(server.url("/feed.xml"))
        assert server.requests_to("/feed.xml")[0].headers["User-Agent"]
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Reply:
    """A canned answer: status, headers and body."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query_string: str
    headers: CIMultiDictProxy[str]


class FeedServer:
    """An HTTP server on 127.0.0.1 in a background thread; see the module docstring."""

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> FeedServer:
        self._thread.start()
        self.port = self._call(self._start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._call(self._runner.cleanup())
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- configuration -----------------------------------------------------

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The absolute URL of ``path`` on this server (``host`` may be a name)."""
        return f"http://{host}:{self.port}{path}"

    def reply(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every request to ``path`` with this status, headers and body."""
        self.add(path, Reply(status, dict(headers or {}), body))

    def add(self, path: str, answer: Reply | Handler) -> None:
        """Answer ``path`` with a canned :class:`Reply` or an aiohttp handler."""
        handler = _canned(answer) if isinstance(answer, Reply) else answer
        with self._lock:
            self._routes[path] = handler

    # --- inspection --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # --- internals ---------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        recorded = RecordedRequest(request.method, request.path, request.query_string, headers)
        with self._lock:
            self._requests.append(recorded)
            handler = self._routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)


def _canned(answer: Reply) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=answer.status, headers=dict(answer.headers), body=answer.body)

    return handler
