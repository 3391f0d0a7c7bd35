"""The article path alone, in process, with the CPU of each stage: where an article's cost goes.

    .venv/bin/python benchmarks/bench_processing.py [--articles 1000] [--batch 100]
        [--alert-fraction 0.1] [--databases sqlite,postgresql]

Stores N entries of bench_pipeline's kind (300 words, 40 feeds) and runs
``process_articles`` over them in batches, as a worker does, on SQLite and on
a fresh PostgreSQL database (the local server, as the tests use it). Prints
CPU ms per article of this process for the whole run and per stage; stages
nest (``prepare`` holds ``analyse_text``, which holds ``language``), so they
do not add up. The stage timers wrap the pipeline's own functions for the
run. On PostgreSQL the CPU of the server processes serving the benchmark's
database over the processing is printed too (the backends' own CPU time;
other sessions' work on the machine is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import service.pipeline as pipeline  # noqa: E402
import service.storage.batch_rows as rows  # noqa: E402
import service.storage.processing as processing  # noqa: E402
from benchmarks.pipeline_support import _stat  # noqa: E402
from service.config import load_config  # noqa: E402
from service.domain import FeedEntry  # noqa: E402
from service.storage.articles import ArticleStore  # noqa: E402
from service.storage.database import Database  # noqa: E402
from service.storage.feeds import FeedStore  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
FEEDS = 40
VOCABULARY = [f"w{n}" for n in range(5000)]
WATCHLIST = """
entities:
  - {id: macron, name: Emmanuel Macron, aliases: [Macron]}
subscriptions:
  - {id: desk, notify: ["json://127.0.0.1:9/"], entities: [macron]}
"""
STAGES: list[tuple[Any, str, str]] = [  # (module or class, function, label)
    (pipeline, "prepare", "prepare (pure: text, classify, keys)"),
    (pipeline, "analyse_text", "  analyse_text (thin test + language)"),
    (pipeline, "story_keys", "  story_keys"),
    (pipeline, "near_duplicate", "  near_duplicate (segments)"),
    (pipeline, "route", "  route"),
    (ArticleStore, "begin_attempts", "begin_attempts (load, count delivery)"),
    (ArticleStore, "commit_batch", "commit_batch (store, one transaction)"),
    (processing, "_lock_new", "  lock articles still new"),
    (processing, "_sketch", "  boilerplate + sketch"),
    (processing, "article_sketch", "    sketch (MinHash, bands)"),
    (processing, "_lock_claims", "  advisory locks (PostgreSQL)"),
    (processing, "NearIndex", "  read band index"),
    (processing, "StoryClaims", "  read key owners"),
    (processing, "_claim_story", "  claim stories (in memory)"),
    (rows, "_write_sketches", "  write sketches + bands"),
    (rows, "_write_states", "  write article states"),
    (rows, "_write_matches", "  write matches"),
    (rows, "_write_alerts", "  write outbox rows"),
]


class Timers:
    """CPU seconds per stage, by wrapping each stage's function for the run."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.process_time() - began
        return wrapper

    @contextmanager
    def installed(self) -> Iterator[None]:
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in STAGES]
        for owner, name, label in STAGES:
            setattr(owner, name, self.timed(label, getattr(owner, name)))
        try:
            yield
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)


class TimedDetector:
    def __init__(self, inner: Any, timers: Timers) -> None:
        self.detect = timers.timed("    language", inner.detect)


class TimedClassifier:
    def __init__(self, inner: Any, timers: Timers) -> None:
        self._inner = inner
        self.classify = timers.timed("  classify", inner.classify)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _entries(feed: int, count: int, alert_fraction: float, now: datetime) -> list[FeedEntry]:
    rng = random.Random(feed)
    entries = []
    for item in range(count):
        words = " ".join(rng.sample(VOCABULARY, 300))
        who = "Macron" if rng.random() < alert_fraction else "Someone"
        text = f"{who} said: {words}."
        entries.append(FeedEntry(f"f{feed}-{item}", f"https://n{feed}.example/{item}",
                                 f"{who} item {feed}-{item}", text, text, now))
    return entries


def run(url: str, directory: Path, args: argparse.Namespace) -> None:
    (directory / "watchlists").mkdir(parents=True)
    (directory / "watchlists" / "w.yaml").write_text(WATCHLIST)
    feeds = [{"url": f"http://127.0.0.1:9/f{n}.xml"} for n in range(FEEDS)]
    (directory / "feeds.yaml").write_text(json.dumps({"feeds": feeds}))
    (directory / "newswatch.yaml").write_text(json.dumps({"database_url": url}))
    config = load_config(directory, os.environ)
    database = Database.open(url)
    now = datetime.now(UTC)
    states = FeedStore(database).sync(config.feeds, now)
    ids: list[int] = []
    for n, feed in enumerate(config.feeds):
        entries = _entries(n, args.articles // FEEDS, args.alert_fraction, now)
        ids += ArticleStore(database).add_entries(states[feed.url].id, entries, now)
    timers = Timers()
    base = pipeline.Processor.from_config(config)
    processor = pipeline.Processor(
        config, TimedClassifier(base.classifier, timers), base.pages,  # type: ignore[arg-type]
        TimedDetector(base.languages, timers), base.ops)
    pipeline.warm_up(config)
    report = pipeline.BatchReport()
    with timers.installed():
        server_began = _backends_cpu(url)
        began = time.process_time()
        for start in range(0, len(ids), args.batch):
            report.add(pipeline.process_articles(database, processor,
                                                 ids[start : start + args.batch],
                                                 lambda: datetime.now(UTC)))
        spent = time.process_time() - began
        server = _backends_cpu(url) - server_began
    database.close()
    name = url.split(":")[0].split("+")[0]
    print(f"{name}: {len(ids)} articles in batches of {args.batch}, {report.processed} processed,"
          f" {report.alerts} alerts: {1000 * spent / len(ids):.2f} ms CPU per article"
          f"  (load {'/'.join(f'{x:.1f}' for x in os.getloadavg())})")
    if name == "postgresql":
        print(f"  {'PostgreSQL backends of this database':<42} "
              f"{1000 * server / len(ids):6.3f} ms")
    labels = [label for _, _, label in STAGES]
    for label in [*labels[:2], "    language", *labels[2:5], "  classify", *labels[5:]]:
        if label in timers.spent:
            print(f"  {label:<42} {1000 * timers.spent[label] / len(ids):6.3f} ms")


def _backends_cpu(url: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``url``'s database
    (0 for SQLite): the server's share of the work, apart from other sessions'."""
    if not url.startswith("postgresql"):
        return 0.0
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        pids = [row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,))]
    return sum(stat[2] for pid in pids if (stat := _stat(str(pid))) is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--alert-fraction", type=float, default=0.1)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind in args.databases.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if kind == "sqlite":
                run(f"sqlite:///{tmp}/bench.db", Path(tmp) / "config", args)
                continue
            name = f"newswatch_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                    Path(tmp) / "config", args)
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
