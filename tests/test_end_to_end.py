"""`newswatch run --once` as a user runs it, embedded mode (SQLite, no Redis).

Feeds come from a local HTTP server (RSS 2.0, Atom, RDF, one malformed, one
answering 500); alerts go to a local apprise json:// endpoint.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feedserver import FeedServer
from tests.scenario import (
    EXPECTED_ALERTS,
    AlertInbox,
    Scenario,
    now_utc,
    scenario_env,
    serve_feeds,
    write_config,
)


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    with FeedServer() as server:
        inbox = AlertInbox(server)
        urls = serve_feeds(server, now_utc())
        config_dir = write_config(
            tmp_path / "config", urls, {"database_url": f"sqlite:///{tmp_path / 'nw.db'}"}
        )
        yield Scenario(server, inbox, config_dir, scenario_env(inbox, config_dir))


def _log_events(stderr: str) -> list[dict[str, object]]:
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_run_once_alerts_each_subscription_once_per_story(scenario: Scenario) -> None:
    result = scenario.run_once()
    assert result.returncode == 0, result.stderr
    alerts = scenario.inbox.alerts()
    assert Counter(alerts) == Counter(EXPECTED_ALERTS), result.stderr
    failed = [e for e in _log_events(result.stderr) if e.get("event") == "feed failed"]
    assert [(e["kind"], e["error"]) for e in failed] == [("http", "HTTP 500 Internal Server Error")]


def test_alert_message_says_what_matched_and_why(scenario: Scenario) -> None:
    assert scenario.run_once().returncode == 0
    (pardon,) = [
        p for p in scenario.inbox.received
        if str(p["title"]).startswith("[newswatch] pardon-watch: Pardon of French")
    ]
    body = str(pardon["message"])
    assert "Event: pardon (taking part: Ilham Aliyev, Théo Clerc)" in body
    assert "On May 27, Aliyev pardoned French national **Théo Clerc**" in body  # entity
    assert "**Pardon**" in body and "**Ilham Aliyev**" in body  # event evidence
    assert "https://news.example.org/pardon" in body
    assert "Also reported by 1 outlet(s): Euro Desk" in body


def test_second_run_sends_nothing_and_asks_conditionally(scenario: Scenario) -> None:
    assert scenario.run_once().returncode == 0
    first = len(scenario.inbox.received)
    second = scenario.run_once()
    assert second.returncode == 0, second.stderr
    assert len(scenario.inbox.received) == first
    for path, etag in (("/rss.xml", '"rss-v1"'), ("/atom.xml", '"atom-v1"')):
        requests = scenario.server.requests_to(path)
        assert len(requests) == 2
        assert "If-None-Match" not in requests[0].headers
        assert requests[1].headers["If-None-Match"] == etag
        assert requests[1].headers["If-Modified-Since"]


def test_failed_delivery_stays_pending_and_is_sent_on_the_next_run(scenario: Scenario) -> None:
    scenario.inbox.failing = True
    first = scenario.run_once()
    assert first.returncode == 0, first.stderr
    assert scenario.inbox.received == []
    assert "alert not delivered" in first.stderr
    scenario.inbox.failing = False
    assert scenario.run_once().returncode == 0
    assert Counter(scenario.inbox.alerts()) == Counter(EXPECTED_ALERTS)
    assert scenario.run_once().returncode == 0
    assert len(scenario.inbox.received) == len(EXPECTED_ALERTS)
