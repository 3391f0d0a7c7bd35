"""The status page: one server-rendered HTML page (Jinja2, autoescaped, no script).

Feed text (titles, outlet names, error messages) is untrusted: autoescaping
turns a ``<script>`` title into text. A Content-Security-Policy forbids scripts
outright as a second wall.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.webui.status import FEED_SORTS, StatusSource

TEMPLATES = Path(__file__).with_name("templates")
PAGE_WINDOW = timedelta(days=1)
PAGE_FEEDS = 500  # rows of the feeds table; the rest are in /api/feeds
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["when"] = when
    return env


def render(env: Environment, source: StatusSource, sort: str, now: datetime) -> str:
    """The page's HTML (blocking: reads the database)."""
    feeds = source.feeds(sort)
    context: dict[str, Any] = {
        "runtime": source.runtime(), "sort": sort, "rendered": now,
        "feeds": feeds[:PAGE_FEEDS], "feed_count": len(feeds),
        "stories": source.stories(now - PAGE_WINDOW),
        "alerts": source.alerts(now - PAGE_WINDOW),
    }
    return env.get_template("status.html").render(context)


def page_handler(source: StatusSource, now: Any) -> Handler:
    env = environment()

    async def status_page(request: web.Request) -> web.Response:
        sort = request.query.get("sort", "status")
        if sort not in FEED_SORTS:
            raise web.HTTPBadRequest(text=f"sort must be one of {', '.join(FEED_SORTS)}")
        html = await asyncio.to_thread(render, env, source, sort, now())
        return web.Response(text=html, content_type="text/html",
                            headers={"Content-Security-Policy": CSP})

    return status_page
