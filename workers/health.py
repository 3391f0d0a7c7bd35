"""/healthz, /readyz and /metrics of a Celery worker, for probes and Prometheus.

Started in the worker's main process when ``web.worker_port`` is set (the
``NEWSWATCH_WORKER_HEALTH_PORT`` environment variable in containers). A tiny
threaded stdlib server: the worker's own loop is Celery's, not asyncio's.
``/metrics`` is what the worker's tasks did (``workers.observe``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import CONTENT_TYPE_LATEST

log = structlog.get_logger("newswatch.worker")


def _handler(
    readiness: Callable[[], list[str]], metrics: Callable[[], bytes]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics())
            elif self.path == "/healthz":
                self._reply(200, {"status": "alive"})
            elif self.path == "/readyz":
                problems = readiness()
                status = "unready" if problems else "ready"
                self._reply(503 if problems else 200, {"status": status, "problems": problems})
            else:
                self._reply(404, {"status": "not found"})

        def _reply(self, code: int, body: dict[str, object]) -> None:
            self._send(code, "application/json", json.dumps(body).encode())

        def _send(self, code: int, content_type: str, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None  # probes every few seconds are not news

    return Handler


def serve_health(
    host: str, port: int, readiness: Callable[[], list[str]], metrics: Callable[[], bytes]
) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _handler(readiness, metrics))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="newswatch-health", daemon=True).start()
    log.info("worker health endpoints listening", url=f"http://{host}:{server.server_port}/")
    return server
