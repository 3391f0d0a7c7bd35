"""The service's HTTP face for ops: /healthz, /readyz and /metrics (and, mounted
from ``service.webui``, the status page, the API and the WebSub callback).

/healthz says the process is alive (its event loop answers); /readyz says it
can work (database and broker reachable); /metrics is Prometheus text.
Blocking checks run in threads so a slow database never stalls the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.metrics import Metrics
from service.webui import WebFace, mount

ReadinessCheck = Callable[[], list[str]]  # problems, as sentences; empty when ready


@dataclass(frozen=True)
class WebContext:
    metrics: Metrics
    readiness: ReadinessCheck
    version: str
    face: WebFace | None = None  # status page, API, WebSub callback (service.webui)


CONTEXT = web.AppKey("context", WebContext)


def make_app(context: WebContext) -> web.Application:
    app = web.Application()
    app[CONTEXT] = context
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    if context.face is not None:
        mount(app, context.face)
    return app


async def _healthz(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    return web.json_response({"status": "alive", "version": context.version})


async def _readyz(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    problems = await asyncio.to_thread(context.readiness)
    status = 503 if problems else 200
    return web.json_response(
        {"status": "unready" if problems else "ready", "problems": problems}, status=status
    )


async def _metrics(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await asyncio.to_thread(generate_latest, context.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class WebServer:
    """Runs the app on host:port beside the service; ``port`` 0 picks a free one."""

    def __init__(self, context: WebContext, host: str, port: int) -> None:
        self._runner = web.AppRunner(make_app(context), access_log=None)
        self._host, self._port = host, port
        self.bound_port: int | None = None

    async def start(self) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.bound_port = int(self._runner.addresses[0][1])
        return self.bound_port

    async def stop(self) -> None:
        await self._runner.cleanup()
