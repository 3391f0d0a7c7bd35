"""/healthz, /readyz and /metrics of a running `newswatch run`, over real HTTP."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.scenario import AlertInbox, scenario_env


class RunningService:
    """`newswatch run` in a subprocess, its JSON log lines read as they come."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "run", "--config", str(config),
             "--log-format", "json"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.events: queue.Queue[dict[str, object]] = queue.Queue()
        self.seen: dict[str, int] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith("{"):
                event = json.loads(line)
                self.seen[str(event.get("event"))] = self.seen.get(str(event.get("event")), 0) + 1
                self.events.put(event)

    def count(self, event: str) -> int:
        """How many log events of this name the process wrote so far."""
        return self.seen.get(event, 0)

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, object]:
        while True:
            item = self.events.get(timeout=timeout)
            if item.get("event") == event:
                return item

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _config(tmp_path: Path, feeds: list[str], settings: dict[str, object]) -> Path:
    config = tmp_path / "config"
    (config / "watchlists").mkdir(parents=True)
    (config / "watchlists" / "w.yaml").write_text(
        'entities: [{id: a, name: Aliyev}]\n'
        'subscriptions: [{id: s, notify: ["${ALERTS_URL}"], entities: [a]}]\n')
    (config / "feeds.yaml").write_text(json.dumps({"feeds": [{"url": u} for u in feeds]}))
    base = {"database_url": f"sqlite:///{tmp_path / 'nw.db'}", "web": {"port": 0},
            "fetch": {"allow_private_addresses": True}}
    (config / "newswatch.yaml").write_text(json.dumps(base | settings))
    return config


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.reply("/ok.xml", b'<rss version="2.0"><channel><title>T</title><item><title>'
                     b"Aliyev speaks</title><link>https://x.example/a</link></item></channel></rss>")
        server.reply("/down.xml", b"no", status=503)
        yield server


def test_health_ready_and_metrics(tmp_path: Path, feed_server: FeedServer) -> None:
    urls = [feed_server.url("/ok.xml"), feed_server.url("/down.xml")]
    inbox = AlertInbox(feed_server)
    config = _config(tmp_path, urls, {})
    service = RunningService(config, scenario_env(inbox, config))
    try:
        base = str(service.wait_for("ops endpoints listening")["url"])
        service.wait_for("feed failed")
        inbox.wait_for(1, timeout=60)
        assert _get(base + "healthz")[0] == 200
        status, body = _get(base + "readyz")
        assert (status, json.loads(body)["status"]) == (200, "ready")
        status, metrics = _get(base + "metrics")
        assert status == 200
        assert 'newswatch_feed_polls_total{result="failed"} 1.0' in metrics
        assert 'newswatch_fetch_errors_total{kind="http"} 1.0' in metrics
        assert 'newswatch_feeds{state="failing"} 1.0' in metrics
        assert "newswatch_queue_depth" in metrics
        for _ in range(100):  # the histogram is observed right after the send returns
            metrics = _get(base + "metrics")[1]
            if "newswatch_entry_to_alert_seconds_count 1.0" in metrics:
                break
            threading.Event().wait(0.1)
        assert "newswatch_entry_to_alert_seconds_count 1.0" in metrics
        assert 'newswatch_alerts_delivery_total{outcome="sent"} 1.0' in metrics
    finally:
        assert service.stop() == 0


def test_readyz_fails_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    config = _config(tmp_path, [], {"broker_url": "redis://127.0.0.1:1/0"})
    service = RunningService(config, {**os.environ, "ALERTS_URL": "json://127.0.0.1:9/x"})
    try:
        base = str(service.wait_for("ops endpoints listening")["url"])
        assert _get(base + "healthz")[0] == 200
        status, body = _get(base + "readyz")
        assert status == 503
        assert "broker unreachable" in json.loads(body)["problems"][0]
    finally:
        assert service.stop() == 0
