"""The REST API: the status page's data as JSON, and ``POST /api/backtest``.

Every response shape is described in ``service.webui.openapi``; a test checks
each handler's answers against that document. Time parameters: ``since`` is
a duration (``1d``, ``12h``) for the listings; the backtest takes ISO 8601
instants.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from service.backtest import BacktestReport, read_stored, run_backtest
from service.config import ConfigError
from service.config.durations import parse_duration
from service.config.loader import load_config
from service.config.models import Watchlists
from service.errors import ConfigProblem
from service.matching.classifier import compile_watchlists
from service.webui.openapi import document
from service.webui.status import FEED_SORTS, StatusSource

WATCHLIST_NAME = "watchlist.yaml"  # how a posted watchlist is named in error reports
MAX_LIMIT = 1000


def _encode(value: object) -> Any:
    """JSON for our read models: dataclasses as objects, datetimes in ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _field_names(type(value))}
    raise TypeError(f"not JSON: {type(value).__name__}")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_json(value: object) -> str:
    return json.dumps(value, default=_encode)


def _json_response(value: object) -> web.Response:
    return web.Response(text=to_json(value), content_type="application/json")


def _bad_request(message: str, problems: list[ConfigProblem] | None = None) -> web.Response:
    found = [_problem(p) for p in problems or []]
    return web.json_response({"error": message, "problems": found},
                             status=400)


def _problem(problem: ConfigProblem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "key": problem.key,
            "message": problem.message, "text": str(problem)}


def _since(request: web.Request, now: datetime) -> datetime:
    text = request.query.get("since", "1d")
    try:
        return now - parse_duration(text)
    except ValueError as e:
        raise web.HTTPBadRequest(text=str(e)) from e


def _limit(request: web.Request, default: int) -> int:
    text = request.query.get("limit", str(default))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


class Api:
    def __init__(self, source: StatusSource, now: Callable[[], datetime],
                 environ: Mapping[str, str]) -> None:
        self.source, self.now, self.environ = source, now, dict(environ)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/openapi.json", self.openapi)
        app.router.add_get("/api/status", self.status)
        app.router.add_get("/api/feeds", self.feeds)
        app.router.add_get("/api/feeds/failures", self.feed_failures)
        app.router.add_get("/api/stories", self.stories)
        app.router.add_get("/api/alerts", self.alerts)
        app.router.add_post("/api/backtest", self.backtest)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(document())

    async def status(self, request: web.Request) -> web.Response:
        return _json_response(self.source.runtime())

    async def feeds(self, request: web.Request) -> web.Response:
        sort = request.query.get("sort", "status")
        if sort not in FEED_SORTS:
            raise web.HTTPBadRequest(text=f"sort must be one of {', '.join(FEED_SORTS)}")
        feeds = await asyncio.to_thread(self.source.feeds, sort)
        return _json_response({"feeds": feeds})

    async def feed_failures(self, request: web.Request) -> web.Response:
        """One feed's failed polls, newest first (``feeds history URL`` on the CLI)."""
        url = request.query.get("url", "")
        if not url:
            raise web.HTTPBadRequest(text="url is required: the feed's URL as in feeds.yaml")
        limit = _limit(request, 50)
        failures = await asyncio.to_thread(self.source.feed_failures, url, limit)
        if failures is None:
            return web.json_response({"error": f"no such feed: {url}"}, status=404)
        return _json_response({"url": url, "failures": failures})

    async def stories(self, request: web.Request) -> web.Response:
        since, limit = _since(request, self.now()), _limit(request, 50)
        stories = await asyncio.to_thread(self.source.stories, since, limit)
        return _json_response({"stories": stories})

    async def alerts(self, request: web.Request) -> web.Response:
        since, limit = _since(request, self.now()), _limit(request, 100)
        alerts = await asyncio.to_thread(self.source.alerts, since, limit)
        return _json_response({"alerts": alerts})

    async def backtest(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _bad_request("the body must be JSON: {watchlist, since, until}")
        request_problems = _check_backtest_body(body)
        if request_problems:
            return _bad_request("invalid request", request_problems)
        since, until = _instant(body["since"]) or self.now(), _instant(body.get("until"))
        try:
            report = await asyncio.to_thread(self._backtest, body["watchlist"], since, until)
        except ConfigError as e:
            return _bad_request("invalid watchlist", list(e.problems))
        return web.json_response(_report_json(report, since, until))

    def _backtest(self, watchlist: str, since: datetime, until: datetime | None) -> BacktestReport:
        config = validate_watchlist(watchlist, self.environ)
        articles = [a for a in read_stored(self.source.database, since)
                    if until is None or a.published is None or a.published <= until]
        return run_backtest(compile_watchlists(config), config.subscriptions, articles)


def validate_watchlist(text: str, environ: Mapping[str, str]) -> Watchlists:
    """The posted watchlist validated by the configuration loader (file:line: key: message)."""
    with tempfile.TemporaryDirectory(prefix="newswatch-backtest-") as tmp:
        root = Path(tmp)
        (root / "feeds.yaml").write_text("feeds: []\n")
        (root / "watchlists").mkdir()
        posted = root / "watchlists" / WATCHLIST_NAME
        posted.write_text(text, encoding="utf-8")
        try:
            return load_config(root, environ).watchlists
        except ConfigError as e:
            raise ConfigError([_renamed(p, str(posted)) for p in e.problems]) from None


def _renamed(problem: ConfigProblem, path: str) -> ConfigProblem:
    file = WATCHLIST_NAME if problem.file == path else problem.file
    return dataclasses.replace(problem, file=file)


def _check_backtest_body(body: object) -> list[ConfigProblem]:
    if not isinstance(body, dict):
        return [ConfigProblem("request", None, None, "the body must be a JSON object")]
    problems = []
    if not isinstance(body.get("watchlist"), str):
        problems.append(ConfigProblem("request", None, "watchlist", "a YAML text is required"))
    for key in ("since", "until"):
        if (key == "since" or body.get(key) is not None) and _instant(body.get(key)) is None:
            problems.append(ConfigProblem("request", None, key,
                                          "an ISO 8601 instant is required"))
    return problems


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _report_json(report: BacktestReport, since: datetime, until: datetime | None) -> dict[str, Any]:
    return {
        "articles": report.articles, "since": since.isoformat(),
        "until": until.isoformat() if until is not None else None,
        "subscriptions": [
            {"id": result.subscription_id, "alerts": [
                {"title": a.article.title, "url": a.article.url, "source": a.article.source,
                 "published": a.article.published.isoformat() if a.article.published else None,
                 "copies": a.copies,
                 "matches": [{"kind": m.kind, "id": m.id, "name": m.name,
                              "sentences": [e.sentence for e in m.evidence]}
                             for m in a.matches]}
                for a in result.alerts]}
            for result in report.subscriptions
        ],
    }

