"""End-to-end throughput and latency: feeds in, alerts out, embedded vs distributed.

    .venv/bin/python benchmarks/bench_pipeline.py [--feeds 50] [--items 40] [--workers 2]

Serves N feeds of fresh items from a local HTTP server, runs `newswatch run
--once` (embedded: SQLite, in-process work; distributed: PostgreSQL, Redis
and Celery worker processes), and reads the database afterwards:
articles/s from the first entry stored to the last alert sent, and the
latency of each alert from its entry stored to its alert sent (p50/p99).
Needs the local Redis and PostgreSQL (as the tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

import psycopg
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.feedserver import FeedServer  # noqa: E402
from tests.scenario import AlertInbox, _rss_item, now_utc  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
WATCHLIST = """
entities:
  - {id: macron, name: Emmanuel Macron, aliases: [Macron]}
subscriptions:
  - {id: desk, notify: ["${ALERTS_URL}"], entities: [macron]}
"""


def _feed(feed: int, items: int, vocabulary: list[str]) -> bytes:
    now = now_utc()
    rng = random.Random(feed)
    entries = []
    for item in range(items):
        words = " ".join(rng.sample(vocabulary, 300))
        entries.append(_rss_item(f"f{feed}-{item}", f"https://n{feed}.example/{item}",
                                 f"Macron item {feed}-{item}", f"Macron said: {words}.", now))
    return (f'<rss version="2.0"><channel><title>Feed {feed}</title>{"".join(entries)}'
            "</channel></rss>").encode()


def _config(directory: Path, urls: list[str], settings: dict[str, object]) -> Path:
    (directory / "watchlists").mkdir(parents=True)
    (directory / "watchlists" / "w.yaml").write_text(WATCHLIST)
    (directory / "feeds.yaml").write_text(json.dumps({"feeds": [{"url": u} for u in urls]}))
    base = {"fetch": {"allow_private_addresses": True}}
    (directory / "newswatch.yaml").write_text(json.dumps(base | settings))
    return directory


def _ts(value: object) -> datetime:
    """A timestamp from either backend (SQLite hands back text)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _measure(database_url: str) -> tuple[int, float, list[float]]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT a.fetched_at, l.sent_at FROM alerts l JOIN articles a ON a.id = l.article_id"
            " WHERE l.state = 'sent'")).all()
    engine.dispose()
    pairs = [(_ts(fetched), _ts(sent)) for fetched, sent in rows]
    latencies = [(sent - fetched).total_seconds() for fetched, sent in pairs]
    span = (max(s for _, s in pairs) - min(f for f, _ in pairs)).total_seconds()
    return len(rows), span, latencies


def _run(config: Path, env: dict[str, str], label: str, database_url: str, total: int) -> None:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "service", "run", "--once", "--config",
                             str(config), "--log-format", "json"], env=env, cwd=ROOT,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{label}: run failed:\n{result.stderr[-3000:]}")
    sent, span, latencies = _measure(database_url)
    p50, p99 = (quantiles(latencies, n=100)[49], quantiles(latencies, n=100)[98]) \
        if len(latencies) > 1 else (0.0, 0.0)
    print(f"{label:<12} {total:>6} articles  {sent:>6} alerts  wall {wall:6.1f} s  "
          f"first-stored→last-sent {span:6.2f} s  {sent / span if span else 0:8.0f} articles/s  "
          f"latency p50 {p50:5.2f} s  p99 {p99:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    vocabulary = [f"w{n}" for n in range(5000)]
    total = args.feeds * args.items
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        inbox = AlertInbox(server)
        for feed in range(args.feeds):
            server.reply(f"/f{feed}.xml", _feed(feed, args.items, vocabulary))
        urls = [server.url(f"/f{feed}.xml") for feed in range(args.feeds)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env["ALERTS_URL"] = inbox.apprise_url
        print(f"{args.feeds} feeds x {args.items} fresh items; every item alerts once")

        sqlite = f"sqlite:///{tmp}/bench.db"
        embedded = _config(Path(tmp) / "embedded", urls, {"database_url": sqlite})
        _run(embedded, env | {"NEWSWATCH_CONFIG": str(embedded)}, "embedded", sqlite, total)

        name = f"newswatch_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        pg = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        distributed = _config(Path(tmp) / "distributed", urls,
                              {"database_url": pg, "broker_url": "redis://127.0.0.1:6379/7"})
        denv = env | {"NEWSWATCH_CONFIG": str(distributed)}
        subprocess.run([sys.executable, "-m", "service", "db", "upgrade"], env=denv, cwd=ROOT,
                       check=True, capture_output=True)
        workers = [subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "--concurrency=1",
             "-Q", "newswatch", "--loglevel=WARNING", "--hostname", f"bench{i}@%h"],
            env=denv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(args.workers)]
        try:
            _run(distributed, denv, f"distributed ({args.workers} workers)", pg, total)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
