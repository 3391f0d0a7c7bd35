"""The service's web face beside the probes: status page, REST API, WebSub callback.

    /            status page (HTML)             service.webui.page
    /api/...     JSON, described by /api/openapi.json    service.webui.api
    /websub/...  hub verification and pushes    service.websub

``mount`` adds them to the app of ``service.web``; the page and the API need
a bearer token when the server is bound beyond loopback (``access``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from service.websub import WebSub
from service.webui.access import check_access, token_middleware
from service.webui.api import Api
from service.webui.page import page_handler
from service.webui.status import Runtime, StatusSource

__all__ = ["Runtime", "StatusSource", "WebFace", "check_access", "mount"]


@dataclass(frozen=True)
class WebFace:
    status: StatusSource
    now: Callable[[], datetime]
    token: str | None = field(default=None, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)  # ${VAR} in backtests
    websub: WebSub | None = None


def mount(app: web.Application, face: WebFace) -> None:
    app.middlewares.append(token_middleware(face.token))
    app.router.add_get("/", page_handler(face.status, face.now))
    Api(face.status, face.now, face.environ).add_routes(app)
    if face.websub is not None:
        face.websub.add_routes(app)
