"""The REST API of a running `newswatch run`, every answer validated against its
own OpenAPI document (JSON Schema 2020-12 via jsonschema), and the access rules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service.metrics import Metrics
from service.storage.database import Database
from service.web import WebContext, make_app
from service.webui import Runtime, StatusSource, WebFace
from service.webui.openapi import document
from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.scenario import AlertInbox, scenario_env
from tests.test_ops_endpoints import RunningService

TOKEN = "test-token-1234"
WATCHLIST = ('entities: [{id: a, name: Aliyev}]\n'
             'subscriptions: [{id: desk, notify: ["${ALERTS_URL}"], entities: [a]}]\n')
FEED = (b'<rss version="2.0"><channel><title>Outlet</title><item><guid>1</guid>'
        b'<title>Aliyev speaks</title><link>https://news.example/1</link>'
        b'<description>Aliyev spoke in Baku.</description></item>'
        b'<item><guid>2</guid><title>Weather</title><link>https://news.example/2</link>'
        b'<description>Rain in Paris.</description><pubDate>%s</pubDate></item>'
        b'</channel></rss>') % format_datetime(datetime.now(UTC) - timedelta(hours=1),
                                               usegmt=True).encode()


def call(url: str, *, token: str | None = TOKEN, body: object = None,
         raw: bytes | None = None) -> tuple[int, str, str]:
    """(status, content type, text) of a GET, or a POST when a body is given."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read().decode()


class Contract:
    """Checks an answer against the document: its status is listed, its body fits."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        Draft202012Validator.check_schema({**doc["components"]["schemas"]["Feed"]})

    def check(self, path: str, method: str, answer: tuple[int, str, str]) -> Any:
        status, content_type, text = answer
        responses = self.doc["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method} {path}: {status} not documented: {text}"
        content = responses[str(status)]["content"]
        assert content_type in content, f"{method} {path}: {content_type} not documented"
        if content_type != "application/json":
            return text
        value = json.loads(text)
        schema = {**content[content_type]["schema"], "components": self.doc["components"]}
        Draft202012Validator(schema).validate(value)
        return value


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp_path = tmp_path_factory.mktemp("api")
    with FeedServer() as server:
        server.reply("/ok.xml", FEED)
        server.reply("/down.xml", b"no", status=500)
        inbox = AlertInbox(server)
        config = tmp_path / "config"
        (config / "watchlists").mkdir(parents=True)
        (config / "watchlists" / "w.yaml").write_text(WATCHLIST)
        feeds = [{"url": server.url("/ok.xml")}, {"url": server.url("/down.xml")}]
        (config / "feeds.yaml").write_text(json.dumps({"feeds": feeds}))
        (config / "newswatch.yaml").write_text(json.dumps({
            "database_url": f"sqlite:///{tmp_path / 'nw.db'}", "web": {"port": 0},
            "fetch": {"allow_private_addresses": True}}))
        env = scenario_env(inbox, config) | {"NEWSWATCH_WEB_TOKEN": TOKEN}
        service = RunningService(config, env)
        try:
            base = str(service.wait_for("ops endpoints listening")["url"])
            service.wait_for("feed failed")
            inbox.wait_for(1, timeout=60)
            yield base, server
        finally:
            assert service.stop() == 0


def test_every_listing_fits_the_document(running: Any) -> None:
    base, server = running
    contract = Contract(document())
    feeds = contract.check("/api/feeds", "get", call(base + "api/feeds"))["feeds"]
    assert feeds[0]["url"] == server.url("/down.xml") and feeds[0]["health"] == "failing"
    by_name = contract.check("/api/feeds", "get", call(base + "api/feeds?sort=name"))["feeds"]
    assert [f["name"] for f in by_name] == [server.url("/down.xml"), "Outlet"]
    stories = contract.check("/api/stories", "get", call(base + "api/stories?since=1d"))
    assert [(s["outlets"], s["subscriptions"]) for s in stories["stories"]
            if s["title"] == "Aliyev speaks"] == [(["Outlet"], ["desk"])]
    alerts = contract.check("/api/alerts", "get", call(base + "api/alerts?limit=10"))["alerts"]
    assert [(a["subscription_id"], a["title"]) for a in alerts] == [("desk", "Aliyev speaks")]
    down = urllib.parse.quote(server.url("/down.xml"), safe="")
    history = contract.check("/api/feeds/failures", "get",
                             call(base + f"api/feeds/failures?url={down}&limit=5"))
    assert history["url"] == server.url("/down.xml") and history["failures"]
    assert {(f["kind"], f["status"]) for f in history["failures"]} == {("http", 500)}
    unknown = contract.check("/api/feeds/failures", "get",
                             call(base + "api/feeds/failures?url=https%3A%2F%2Fno.example%2F"))
    assert "no such feed" in unknown["error"]
    status = contract.check("/api/status", "get", call(base + "api/status"))
    assert status["last_reload_error"] is None and len(status["config_version"]) > 12
    served = contract.check("/api/openapi.json", "get", call(base + "api/openapi.json"))
    assert served == document()


@pytest.mark.parametrize("query", ["api/feeds?sort=nope", "api/feeds/failures",
                                   "api/stories?since=soon",
                                   "api/alerts?limit=0", "api/alerts?limit=x"])
def test_bad_parameters_are_documented_400s(running: Any, query: str) -> None:
    base, _ = running
    path = "/" + query.split("?")[0]
    answer = call(base + query)
    assert answer[0] == 400
    Contract(document()).check(path, "get", answer)


def test_backtest_reports_what_would_alert(running: Any) -> None:
    base, _ = running
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    watchlist = ("entities: [{id: paris, name: Paris}]\n"
                 "subscriptions: [{id: weather, notify: ['json://x/'], entities: [paris]}]\n")
    body = {"watchlist": watchlist, "since": since}
    report = Contract(document()).check("/api/backtest", "post",
                                        call(base + "api/backtest", body=body))
    assert report["articles"] == 2
    (result,) = report["subscriptions"]
    assert result["id"] == "weather"
    assert [a["title"] for a in result["alerts"]] == ["Weather"]
    assert result["alerts"][0]["matches"][0]["id"] == "paris"
    past = {**body, "until": (datetime.now(UTC) - timedelta(days=2)).isoformat()}
    nothing = Contract(document()).check("/api/backtest", "post",
                                         call(base + "api/backtest", body=past))
    assert nothing["subscriptions"][0]["alerts"] == []  # published after `until`


def test_backtest_names_file_line_and_key(running: Any) -> None:
    base, _ = running
    body = {"watchlist": "entities:\n  - id: a\n    name: A\n    colour: red\n",
            "since": "2026-01-01T00:00:00Z"}
    error = Contract(document()).check("/api/backtest", "post",
                                       call(base + "api/backtest", body=body))
    (problem,) = error["problems"]
    assert (problem["file"], problem["line"]) == ("watchlist.yaml", 4)
    assert "colour" in (problem["key"] or "")
    missing = call(base + "api/backtest", body={"watchlist": 3})
    keys = {p["key"] for p in Contract(document()).check("/api/backtest", "post", missing)[
        "problems"]}
    assert keys == {"watchlist", "since"}
    not_json = call(base + "api/backtest", raw=b"{nope")
    assert Contract(document()).check("/api/backtest", "post", not_json)["error"]


def test_token_guards_page_and_api_not_probes(running: Any) -> None:
    base, _ = running
    for path in ("", "api/feeds", "api/openapi.json"):
        answer = call(base + path, token=None)
        assert answer[0] == 401, path
        assert call(base + path, token="wrong")[0] == 401
    Contract(document()).check("/api/feeds", "get", call(base + "api/feeds", token=None))
    assert call(base + "", token=TOKEN)[0] == 200
    for probe in ("healthz", "readyz", "metrics"):
        assert call(base + probe, token=None)[0] == 200


def test_handlers_and_document_list_the_same_operations(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'nw.db'}")
    try:
        source = StatusSource(database, lambda: Runtime("0", "abc", None))
        face = WebFace(status=source, now=lambda: datetime.now(UTC))
        app = make_app(WebContext(Metrics(), lambda: [], "0", face=face))
        routes = {(r.resource.canonical, r.method.lower()) for r in app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/api")
                  and r.method != "HEAD"}
    finally:
        database.close()
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert routes == documented


def test_beyond_loopback_without_token_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "watchlists").mkdir(parents=True)
    (config / "feeds.yaml").write_text("feeds: []\n")
    (config / "newswatch.yaml").write_text(json.dumps({
        "database_url": f"sqlite:///{tmp_path / 'nw.db'}", "web": {"port": 0}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_WEB_HOST"] = "0.0.0.0"
    result = subprocess.run([sys.executable, "-m", "service", "run", "--config", str(config)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "NEWSWATCH_WEB_TOKEN" in result.stderr and "0.0.0.0" in result.stderr
