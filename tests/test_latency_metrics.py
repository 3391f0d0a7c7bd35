"""The entry-to-alert histogram counts every alert sent, in whatever order of ids,
in the process that sent it: the run process's ``/metrics`` and a worker's.

The first alert fails once and goes out on the next pass, after the alerts
with higher ids: ``N`` alerts sent, ``N`` observations, each its own latency.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service import runner
from service.config import load_config
from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import build_channels
from service.notify.sender import AlertSender, Recipient, SendReport
from service.storage import AlertStore, Database
from tests.clock import Clock
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, store_alerts
from workers import observe

ALERTS = 4
SEEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def endpoint() -> Iterator[JsonEndpoint]:
    with FeedServer() as server:
        yield JsonEndpoint(server, statuses=[503])  # the first post (the lowest id) fails


def _sends_out_of_order(database: Database, endpoint: JsonEndpoint, clock: Clock,
                        observe: Callable[[SendReport], None]) -> None:
    """Two passes: ids 2..N, then id 1 (its retry); each report observed after its pass."""
    store_alerts(database, ["desk"], ALERTS, SEEN)
    sub = SubscriptionConfig(id="desk", notify=(endpoint.apprise_url,))
    sender = AlertSender(AlertStore(database), {"desk": Recipient(sub, build_channels(
        sub.notify))}, {}, AlertSettings(), rng=random.Random(3))
    clock.now = SEEN + timedelta(seconds=2)
    first = sender.send_due(clock)
    observe(first)
    clock.now = SEEN + timedelta(hours=2)  # the failed one's backoff is over
    second = sender.send_due(clock)
    observe(second)
    assert (first.sent, first.failed, second.sent) == (ALERTS - 1, 1, 1)
    assert endpoint.titles()[-1] == "[newswatch] desk: Story 0"  # the lowest id, sent last


def test_the_run_process_observes_every_alert_it_sent(tmp_path: Path,
                                                      endpoint: JsonEndpoint) -> None:
    config_dir = tmp_path / "config"
    (config_dir / "watchlists").mkdir(parents=True)
    (config_dir / "feeds.yaml").write_text("feeds: []\n")
    (config_dir / "newswatch.yaml").write_text(
        f"database_url: sqlite:///{tmp_path / 'nw.db'}\nweb: {{enabled: false}}\n")
    clock = Clock(SEEN)
    service = runner.Service(load_config(config_dir, {}), once=False, now=clock)
    try:
        _sends_out_of_order(service.database, endpoint, clock, service._observe_sends)
    finally:
        service.close()
    sample = service.metrics.registry.get_sample_value
    assert sample("newswatch_entry_to_alert_seconds_count") == ALERTS
    assert sample("newswatch_entry_to_alert_seconds_sum") == 2 * (ALERTS - 1) + 2 * 3600


def test_a_worker_observes_every_alert_it_sent(database: Database,
                                               endpoint: JsonEndpoint) -> None:
    sample = observe.metrics().registry.get_sample_value
    before = sample("newswatch_entry_to_alert_seconds_count") or 0
    _sends_out_of_order(database, endpoint, Clock(SEEN), observe.observe_sends)
    assert sample("newswatch_entry_to_alert_seconds_count") == before + ALERTS
