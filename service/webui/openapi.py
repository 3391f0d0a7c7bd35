"""The OpenAPI 3.1 document of the REST API, served at ``/api/openapi.json``.

Schemas are JSON Schema 2020-12 (OpenAPI 3.1), so a test validates every
answer of every handler against them with ``jsonschema``.
"""

from __future__ import annotations

from typing import Any

from service import __version__
from service.webui.status import FEED_SORTS

_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_TEXT = {"type": "string"}
_INT = {"type": "integer"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": sorted(properties),
            "additionalProperties": False}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": _ref(item)}})


SCHEMAS: dict[str, Any] = {
    "Runtime": _object({"version": _TEXT, "config_version": _TEXT,
                        "last_reload_error": _MAYBE_TEXT}),
    "Feed": _object({
        "url": _TEXT, "name": _TEXT,
        "health": {"enum": ["disabled", "failing", "new", "ok"]}, "enabled": {"type": "boolean"},
        "last_polled_at": _MAYBE_TIME, "last_success_at": _MAYBE_TIME,
        "last_error_kind": _MAYBE_TEXT, "last_error": _MAYBE_TEXT, "next_poll_at": _MAYBE_TIME,
        "consecutive_failures": _INT, "disabled_reason": _MAYBE_TEXT,
        "websub": {"enum": ["pending", "active", "denied", None],
                   "description": "state of the WebSub subscription to the feed's hub"},
    }),
    "Story": _object({
        "id": _INT, "title": _TEXT, "created_at": _TIME, "updated_at": _TIME,
        "article_count": _INT, "outlets": {"type": "array", "items": _TEXT},
        "subscriptions": {"type": "array", "items": _TEXT},
    }),
    "Alert": _object({
        "id": _INT, "subscription_id": _TEXT, "delivery": _TEXT, "attempts": _INT,
        "created_at": _TIME, "sent_at": _MAYBE_TIME, "last_error": _MAYBE_TEXT,
        "title": _TEXT, "source": _TEXT,
    }),
    "FeedList": _list_of("feeds", "Feed"),
    "FeedFailures": _object({"url": _TEXT, "failures": {"type": "array", "items": _object({
        "at": _TIME, "status": {"type": ["integer", "null"]}, "message": _TEXT,
        "kind": {"type": "string", "description": "dns, connect, timeout, http, too-large, "
                 "parse, refused-private, redirects or bad-url"}})}}),
    "StoryList": _list_of("stories", "Story"),
    "AlertList": _list_of("alerts", "Alert"),
    "BacktestRequest": {
        "type": "object", "required": ["watchlist", "since"],
        "properties": {"watchlist": {"type": "string", "description": "a watchlist file (YAML)"},
                       "since": _TIME, "until": _MAYBE_TIME},
    },
    "BacktestMatch": _object({"kind": {"enum": ["topic", "entity", "event"]}, "id": _TEXT,
                              "name": _TEXT, "sentences": {"type": "array", "items": _TEXT}}),
    "WouldAlert": _object({"title": _TEXT, "url": _MAYBE_TEXT, "source": _TEXT,
                           "published": _MAYBE_TIME, "copies": _INT,
                           "matches": {"type": "array", "items": _ref("BacktestMatch")}}),
    "BacktestReport": _object({
        "articles": _INT, "since": _TIME, "until": _MAYBE_TIME,
        "subscriptions": {"type": "array", "items": _object({
            "id": _TEXT, "alerts": {"type": "array", "items": _ref("WouldAlert")}})},
    }),
    "Problem": _object({"file": _TEXT, "line": {"type": ["integer", "null"]},
                        "key": _MAYBE_TEXT, "message": _TEXT, "text": _TEXT}),
    "Error": _object({"error": _TEXT, "problems": {"type": "array", "items": _ref("Problem")}}),
    "Unauthorized": _object({"error": _TEXT}),
    "NotFound": _object({"error": _TEXT}),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


_UNAUTHORIZED = _json("Unauthorized", "a bearer token is required (web.host is not loopback)")
_PLAIN_400 = {"description": "a bad query parameter", "content": {"text/plain": {
    "schema": _TEXT}}}
_SINCE = {"name": "since", "in": "query", "required": False,
          "description": "a duration back from now, e.g. 1d, 12h", "schema": {
              "type": "string", "default": "1d"}}


def _limit(default: int) -> dict[str, Any]:
    return {"name": "limit", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": default}}


def _get(summary: str, schema: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(schema, summary), "401": _UNAUTHORIZED}
    if parameters:
        responses["400"] = _PLAIN_400
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def _with_404(operation: dict[str, Any]) -> dict[str, Any]:
    operation["get"]["responses"]["404"] = _json("NotFound", "no feed with that URL")
    return operation


PATHS: dict[str, Any] = {
    "/api/status": _get("the service's version, configuration version, last refused reload",
                        "Runtime", []),
    "/api/feeds": _get("every feed with its poll state; failing first by default", "FeedList", [
        {"name": "sort", "in": "query", "required": False,
         "schema": {"enum": list(FEED_SORTS), "default": "status"}}]),
    "/api/feeds/failures": _with_404(_get(
        "one feed's failed polls, newest first (the last 50 within 30 days are kept)",
        "FeedFailures", [{"name": "url", "in": "query", "required": True,
                          "schema": {"type": "string"}}, _limit(50)])),
    "/api/stories": _get("recent stories with their outlets and the subscriptions alerted",
                         "StoryList", [_SINCE, _limit(50)]),
    "/api/alerts": _get("recent alerts (and every pending one) with their delivery state",
                        "AlertList", [_SINCE, _limit(100)]),
    "/api/backtest": {"post": {
        "summary": "what a watchlist would have alerted on the stored articles; sends nothing",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("BacktestRequest")}}},
        "responses": {"200": _json("BacktestReport", "would-be alerts per subscription"),
                      "400": _json("Error", "invalid request or watchlist (file:line: key)"),
                      "401": _UNAUTHORIZED},
    }},
    "/api/openapi.json": {"get": {"summary": "this document", "responses": {
        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {
            "schema": {"type": "object"}}}}, "401": _UNAUTHORIZED}}},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "newswatch", "version": __version__},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
        "paths": PATHS,
    }
