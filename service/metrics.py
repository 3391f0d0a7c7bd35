"""Prometheus metrics of one newswatch process, in a registry of its own.

Counters and histograms are observed where the work happens (poller,
in-process work, sender: the entry-to-alert latency of each alert by the
process that sent it, a worker on its own ``/metrics``); totals that
workers in other processes change (articles, stories, alerts by state,
queue depth) are read from the database and the broker when Prometheus
scrapes, so one `/metrics` tells the whole truth in distributed mode too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True)
class StateCounts:
    """What the database and broker hold right now (read at scrape time)."""

    articles: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    stories: int = 0
    feeds: dict[str, int] = field(default_factory=dict)
    queue_depth: int | None = None


class _StateCollector(Collector):
    def __init__(self, read: Callable[[], StateCounts]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self._read()
        yield _by_state("newswatch_articles", "Stored articles by state", counts.articles)
        yield _by_state("newswatch_alerts", "Alerts in the outbox by state", counts.alerts)
        yield _by_state("newswatch_feeds", "Configured feeds by health", counts.feeds)
        yield GaugeMetricFamily("newswatch_stories", "Stories stored", value=counts.stories)
        if counts.queue_depth is not None:
            yield GaugeMetricFamily(
                "newswatch_queue_depth", "Task messages waiting in the broker",
                value=counts.queue_depth,
            )


def _by_state(name: str, documentation: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["state"])
    for state, value in sorted(values.items()):
        family.add_metric([state], value)
    return family


class Metrics:
    """The instruments one process observes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.polls = Counter("newswatch_feed_polls", "Feed polls by result", ["result"],
                             registry=r)
        self.fetch_errors = Counter("newswatch_fetch_errors", "Failed fetches by kind",
                                    ["kind"], registry=r)
        self.new_entries = Counter("newswatch_new_entries", "Entries new to their feed",
                                   registry=r)
        self.alerts = Counter("newswatch_alerts_delivery",
                              "Alert delivery outcomes in this process", ["outcome"],
                              registry=r)
        self.fetch_seconds = Histogram("newswatch_fetch_seconds", "Time to fetch one feed",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.seen_to_sent = Histogram(
            "newswatch_entry_to_alert_seconds",
            "From entry stored to its alert sent (alerts this process sent)",
            buckets=LATENCY_BUCKETS, registry=r,
        )

    def watch_state(self, read: Callable[[], StateCounts]) -> None:
        """Report database/broker totals, read when scraped."""
        self.registry.register(_StateCollector(read))
