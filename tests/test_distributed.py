"""The end-to-end scenario in distributed mode: real Redis, a real Celery worker
subprocess and the real PostgreSQL, with `run --once` as the poller and sender."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def distributed(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Scenario]:
    with FeedServer() as server:
        inbox = AlertInbox(server)
        urls = serve_feeds(server, now_utc())
        config_dir = write_config(
            tmp_path / "config", urls, {"database_url": pg_url, "broker_url": redis_url}
        )
        env = scenario_env(inbox, config_dir)
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
        # the work was done by the worker process, not by the poller
        assert "Task newswatch.process_articles[" in output
        assert " succeeded in " in output


def test_distributed_run_alerts_exactly_like_embedded(distributed: Scenario) -> None:
    result = distributed.run_once()
    assert result.returncode == 0, result.stderr
    assert "distributed (Celery) mode" in result.stderr
    assert Counter(distributed.inbox.alerts()) == Counter(EXPECTED_ALERTS), result.stderr
    again = distributed.run_once()
    assert again.returncode == 0, again.stderr
    assert len(distributed.inbox.received) == len(EXPECTED_ALERTS)
