"""Secrets in notify URLs never leak; `notify-test` and `alerts` on a real configuration.

A Slack webhook token (the secret) is sent to a local endpoint that fails,
with debug logging on: the token must appear nowhere a person or a log
collector could read it: logs (structlog and stdlib), the send report,
the stored error, the `alerts` table.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

from service.cli import app
from service.config import load_config
from service.config.models import AlertSettings
from service.logs import configure_logging
from service.notify.recipients import build_recipients
from service.notify.sender import AlertSender
from service.storage import AlertStore, Database
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, store_alerts

SECRET = "TIiajkdnlazkcOXrIdevi7FQ"
SLACK_URL = f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}/#desk"
NOW = datetime.now(UTC).replace(microsecond=0)


def _later(hours: int) -> datetime:
    return NOW + timedelta(hours=hours)


def write_config(root: Path, database_url: str, notify: list[str]) -> Path:
    (root / "watchlists").mkdir(parents=True)
    (root / "feeds.yaml").write_text(json.dumps({"feeds": []}))
    (root / "newswatch.yaml").write_text(json.dumps({"database_url": database_url}))
    watchlist = {
        "entities": [{"id": "ilham-aliyev", "name": "Ilham Aliyev", "aliases": ["Aliyev"]}],
        "events": [{"id": "pardon", "name": "Pardon", "triggers": ["pardon*"]}],
        "subscriptions": [{"id": "desk", "notify": notify, "events": ["pardon"],
                           "entities": ["ilham-aliyev"]}],
    }
    (root / "watchlists" / "desk.yaml").write_text(json.dumps(watchlist))
    return root


def test_webhook_token_never_appears_with_debug_logging_and_a_failing_endpoint(
    tmp_path: Path, server: FeedServer, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, restore_logging: None,
) -> None:
    async def fail(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="boom")

    server.add(f"/services/T1JJ3T3L2/A1BRTD4JD/{SECRET}", fail)
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    config = load_config(write_config(tmp_path / "config", database_url, [SLACK_URL]), {})
    configure_logging("debug", "json")
    caplog.set_level(logging.DEBUG)
    recipients = build_recipients(config)
    recipients["desk"].channels[0].plugin.webhook_url = server.url("/services")
    database = Database.open(database_url)
    try:
        store_alerts(database, ["desk"], 1, NOW)
        sender = AlertSender(AlertStore(database), recipients, {}, AlertSettings(max_attempts=2),
                             rng=random.Random(1))
        reports = [sender.send_due(lambda: NOW, ignore_schedule=True) for _ in range(2)]
        stored = AlertStore(database).recent(NOW.replace(year=2000))
    finally:
        database.close()
    assert server.requests_to(f"/services/T1JJ3T3L2/A1BRTD4JD/{SECRET}")  # it was really tried
    assert [(r.failed, r.dead) for r in reports] == [(1, 0), (0, 1)]
    listing = CliRunner().invoke(app, ["alerts", "--config", str(tmp_path / "config")],
                                 env={"COLUMNS": "400"})
    assert listing.exit_code == 0, listing.output
    assert "dead" in listing.output and "slack://" in listing.output
    out, err = capfd.readouterr()
    seen = "\n".join([out, err, caplog.text, listing.output,
                      *(e for r in reports for e in r.errors),
                      *(s.last_error or "" for s in stored)])
    assert "alert not delivered" in seen  # the failure is reported...
    assert SECRET not in seen  # ...without the token
    assert SECRET[:8] not in seen


def test_notify_test_sends_a_sample_through_each_channel(
    tmp_path: Path, server: FeedServer
) -> None:
    good = JsonEndpoint(server, path="/good")
    bad = JsonEndpoint(server, path="/bad", statuses=[500])
    root = write_config(tmp_path / "config", f"sqlite:///{tmp_path / 'nw.db'}",
                        [good.apprise_url, bad.apprise_url])
    result = CliRunner().invoke(app, ["notify-test", "desk", "--config", str(root)])
    assert result.exit_code == 1, result.output
    assert f"json://127.0.0.1:{server.port}/good (markdown): sent" in result.output
    assert f"json://127.0.0.1:{server.port}/bad (markdown): FAILED" in result.output
    (payload,) = good.received
    assert str(payload["title"]).startswith("[newswatch] desk: newswatch test alert")
    assert "Event: Pardon (taking part: Ilham Aliyev)" in str(payload["message"])


def test_notify_test_names_an_unknown_subscription(tmp_path: Path) -> None:
    root = write_config(tmp_path / "config", f"sqlite:///{tmp_path / 'nw.db'}", ["console://"])
    result = CliRunner().invoke(app, ["notify-test", "nope", "--config", str(root)])
    assert result.exit_code == 2
    assert "unknown subscription: 'nope'" in result.output


def test_template_override_directory_is_used_and_checked(tmp_path: Path) -> None:
    root = write_config(tmp_path / "config", f"sqlite:///{tmp_path / 'nw.db'}", ["console://"])
    desk = json.loads((root / "watchlists" / "desk.yaml").read_text())
    desk["subscriptions"][0]["template"] = "templates/desk"
    (root / "watchlists" / "desk.yaml").write_text(json.dumps(desk))
    (root / "templates" / "desk").mkdir(parents=True)
    (root / "templates" / "desk" / "alert.text.txt").write_text("DESK: {{ alert.title }}\n")
    result = CliRunner().invoke(app, ["notify-test", "desk", "--config", str(root)])
    assert result.exit_code == 0, result.output
    assert "DESK: newswatch test alert" in result.stdout
    (root / "templates" / "desk" / "alert.text.txt").write_text("{% if %}\n")
    broken = CliRunner().invoke(app, ["notify-test", "desk", "--config", str(root)])
    assert broken.exit_code == 2
    assert "subscriptions[id=desk].template: template does not compile: alert.text.txt" in (
        broken.output)


def test_webhook_and_smtp_passwords_never_appear_with_debug_logging(
    tmp_path: Path, server: FeedServer, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, restore_logging: None,
) -> None:
    password = "Zq8vN3wLpT5rKx2m"
    hook = JsonEndpoint(server, path="/hook", statuses=[503] * 2, headers={"Retry-After": "5"})
    with socket.socket() as probe:  # a port nothing listens on: SMTP connection refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    urls = [hook.apprise_url.replace("json://", f"json://desk:{password}@"),
            f"mailto://desk:{password}@127.0.0.1:{closed}?mode=insecure"
            "&from=newswatch@example.org&to=desk@example.org"]
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    config = load_config(write_config(tmp_path / "config", database_url, urls), {})
    configure_logging("debug", "json")
    caplog.set_level(logging.DEBUG)
    database = Database.open(database_url)
    try:
        store_alerts(database, ["desk"], 1, NOW)
        sender = AlertSender(AlertStore(database), build_recipients(config), {},
                             AlertSettings(max_attempts=2), rng=random.Random(1))
        reports = [sender.send_due(functools.partial(_later, h), ignore_schedule=True)
                   for h in (0, 1)]
        stored = AlertStore(database).recent(NOW.replace(year=2000))
    finally:
        database.close()
    assert hook.attempts == 2  # really tried, really refused
    assert [(r.failed, r.dead) for r in reports] == [(1, 0), (0, 1)]
    listing = CliRunner().invoke(app, ["alerts", "--config", str(tmp_path / "config")],
                                 env={"COLUMNS": "400"})
    assert listing.exit_code == 0, listing.output
    out, err = capfd.readouterr()
    seen = "\n".join([out, err, caplog.text, listing.output,
                      *(e for r in reports for e in r.errors),
                      *(s.last_error or "" for s in stored)])
    assert "alert not delivered" in seen and "mailto://" in seen and "json://" in seen
    assert password not in seen and password[:6] not in seen
