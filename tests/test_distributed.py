"""The end-to-end scenario in distributed mode: real Redis, a real Celery worker
subprocess and the real PostgreSQL, with `run --once` as the poller and sender."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.storage import Database, stats
from tests.conftest import ROOT
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
from tests.waiting import wait_until


@pytest.fixture
def distributed(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Scenario]:
    with FeedServer() as server:
        inbox = AlertInbox(server)
        urls = serve_feeds(server, now_utc())
        config_dir = write_config(
            tmp_path / "config", urls, {"database_url": pg_url, "broker_url": redis_url}
        )
        env = scenario_env(inbox, config_dir)
        env["NEWSWATCH_WORKER_HEALTH_PORT"] = str(_free_port())
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "--loglevel=INFO",
             "--concurrency=2", "-Q", "newswatch", "--without-gossip", "--without-mingle",
             "--hostname", f"test-{tmp_path.name}@%h"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            yield Scenario(server, inbox, config_dir, env)
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
            print(output[-4000:])
        # the work was done by the worker process, not by the poller; its log (standard
        # error is not a terminal) is JSON lines, Celery's own records included
        events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert any(e["event"].startswith("Task newswatch.process_articles[")
                   and " succeeded in " in e["event"] and e["logger"] == "celery.app.trace"
                   for e in events), output
        (metrics,) = [e for e in events
                      if e["event"] == "worker metrics shared by the pool processes"]
        assert not Path(metrics["directory"]).exists()  # the worker's own: gone when it stops


def test_distributed_run_alerts_exactly_like_embedded(distributed: Scenario) -> None:
    result = distributed.run_once()
    assert result.returncode == 0, result.stderr
    assert "distributed (Celery) mode" in result.stderr
    assert Counter(distributed.inbox.alerts()) == Counter(EXPECTED_ALERTS), result.stderr
    again = distributed.run_once()
    assert again.returncode == 0, again.stderr
    assert len(distributed.inbox.received) == len(EXPECTED_ALERTS)
    # the worker's own /metrics: its two pool processes' counts, summed (a task counts
    # its batch just after the commit that run --once waited for: poll, with a deadline)
    database = Database.open(_database_url(distributed), migrate=False)
    try:
        settled = sum(n for state, n in stats.article_counts(database).items()
                      if state in ("processed", "duplicate"))
        stories = stats.story_count(database)
    finally:
        database.close()
    port = int(distributed.env["NEWSWATCH_WORKER_HEALTH_PORT"])

    def counted() -> float:
        metrics = _worker_metrics(port)
        return (metrics[("newswatch_worker_articles_total", "processed")]
                + metrics[("newswatch_worker_articles_total", "duplicate")])

    wait_until(lambda: counted() >= settled, "the workers' counters to reach the database's")
    metrics = _worker_metrics(port)
    assert counted() == settled
    assert metrics[("newswatch_worker_stories_total", "")] == stories
    assert metrics[("newswatch_worker_alerts_created_total", "")] == len(EXPECTED_ALERTS)
    assert metrics[("newswatch_worker_batch_seconds_count", "")] >= 1


def _database_url(scenario: Scenario) -> str:
    settings = json.loads((scenario.config_dir / "newswatch.yaml").read_text())
    return str(settings["database_url"])


def _worker_metrics(port: int) -> dict[tuple[str, str], float]:
    """(sample name, outcome label) -> value, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    values: dict[tuple[str, str], float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, sample.labels.get("outcome", ""))] += sample.value
    return values


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_worker_serves_health_endpoints(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "feeds.yaml").write_text("feeds: []\n")
    (config / "newswatch.yaml").write_text(json.dumps({"database_url": pg_url,
                                                       "broker_url": redis_url}))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(NEWSWATCH_CONFIG=str(config), NEWSWATCH_WORKER_HEALTH_PORT=str(port))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--concurrency=1",
         "-Q", "newswatch", "--without-gossip", "--without-mingle",
         "--hostname", f"health-{tmp_path.name}@%h"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if "worker health endpoints listening" in line:
                break
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(base + "/readyz", timeout=30) as response:
            assert json.loads(response.read())["status"] == "ready"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    assert worker.returncode == 0
