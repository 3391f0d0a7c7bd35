"""End-to-end throughput and idle latency: feeds in, alerts out, embedded vs distributed.

    .venv/bin/python benchmarks/bench_pipeline.py [--feeds 20] [--items 25] [--workers 2]
        [--concurrency 1] [--alert-fraction 1.0] [--idle 40] [--modes embedded,distributed]
        [--dedup '{"same_event": true}'] [--timeline]

Throughput: serves N feeds of fresh items from a local HTTP server and runs
`newswatch run --once` (embedded: SQLite, work in-process; distributed:
PostgreSQL, Redis and Celery worker processes); from the database afterwards:
articles/s from the first entry stored to the last alert sent, each alert's
latency from its entry stored to its alert sent, and the CPU time our
processes (and PostgreSQL) spent in that window, per article. On PostgreSQL
it also prints what the database's active backends waited on (sampled every
50 ms), e.g. the share of time spent on the batches' claim locks.

Idle latency (``--idle N``): starts `newswatch run` (and the workers), lets a
trickle of N new items, one every ``--every`` seconds, into feeds polled every
second, and measures entry stored -> alert sent for each. Every child is
stopped at the end (SIGTERM, then SIGKILL after a grace period), and every
wait has a deadline. Needs the local Redis and PostgreSQL (as the tests do).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

import psycopg
import redis
from celery import Celery
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline_support import (  # noqa: E402
    CpuSampler,
    WaitSampler,
    feed_body,
    start,
    stop,
    utc_now,
)
from tests.conftest import _REDIS_OWNER_KEY, REDIS_DBS, REDIS_URL  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.scenario import AlertInbox  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
WATCHLIST = """
entities:
  - {id: macron, name: Emmanuel Macron, aliases: [Macron]}
subscriptions:
  - {id: desk, notify: ["${ALERTS_URL}"], entities: [macron]}
"""
VOCABULARY = [f"w{n}" for n in range(5000)]
# as feed servers (and bench_poller) answer: without it aiohttp says
# application/octet-stream, not an XML type, and every feed took feedparser's
# slow path (~0.25 instead of ~0.06 ms of CPU per entry)
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
DEDUP: dict[str, object] = {}  # --dedup


def _config(directory: Path, feeds: list[dict[str, str]], settings: dict[str, object]) -> Path:
    (directory / "watchlists").mkdir(parents=True)
    (directory / "watchlists" / "w.yaml").write_text(WATCHLIST)
    (directory / "feeds.yaml").write_text(json.dumps({"feeds": feeds}))
    base = {"fetch": {"allow_private_addresses": True}, "web": {"port": 0}, "dedup": DEDUP}
    (directory / "newswatch.yaml").write_text(json.dumps(base | settings))
    return directory


def _ts(value: object) -> datetime:
    """A timestamp from either backend (SQLite hands back text)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _read(database_url: str, since_id: int = 0) -> tuple[int, list[tuple[datetime, datetime]]]:
    """(articles stored, [(entry stored, alert sent)]) for articles above ``since_id``."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM articles WHERE id > :i"),
                                   {"i": since_id}).scalar_one()
        rows = connection.execute(text(
            "SELECT a.fetched_at, l.sent_at FROM alerts l JOIN articles a ON a.id = l.article_id"
            " WHERE l.state = 'sent' AND a.id > :i"), {"i": since_id}).all()
    engine.dispose()
    return int(count), [(_ts(fetched), _ts(sent)) for fetched, sent in rows]


def _first_stored(database_url: str) -> datetime:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        value = connection.execute(text("SELECT min(fetched_at) FROM articles")).scalar_one()
    engine.dispose()
    return _ts(value)


def _phases(database_url: str) -> tuple[datetime, datetime]:
    """When the last entry was stored and when the last article was processed."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored, processed = connection.execute(text(
            "SELECT max(fetched_at), max(processed_at) FROM articles")).one()
    engine.dispose()
    return _ts(stored), _ts(processed)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return (latencies[0], latencies[0]) if latencies else (0.0, 0.0)
    cuts = quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98]


@contextlib.contextmanager
def _waits(database_url: str) -> Iterator[WaitSampler | None]:
    """What the database's backends wait on during a PostgreSQL run (None on SQLite)."""
    if "postgresql" not in database_url:
        yield None
        return
    with WaitSampler(PG_ADMIN, database_url.rsplit("/", 1)[1]) as sampler:
        yield sampler


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class Bench:
    def __init__(self, args: argparse.Namespace, server: FeedServer, tmp: Path) -> None:
        self.args, self.server, self.tmp = args, server, tmp
        self.inbox = AlertInbox(server)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        self.env["ALERTS_URL"] = self.inbox.apprise_url
        self.log = args.log or str(tmp / "children.log")

    # --- throughput: run --once ---------------------------------------------------

    def throughput(self, label: str, settings: dict[str, object], database_url: str) -> None:
        args = self.args
        urls = []
        for feed in range(args.feeds):
            path = f"/{label.split()[0]}/f{feed}.xml"
            self.server.reply(path, feed_body(feed, args.items, VOCABULARY, args.alert_fraction,
                                              utc_now()), headers=RSS)
            urls.append({"url": self.server.url(path)})
        config = _config(self.tmp / f"{label}-once", urls, settings)
        env = self.env | {"NEWSWATCH_CONFIG": str(config)}
        workers = self._workers(env, settings)
        try:
            run = start([sys.executable, "-m", "service", "run", "--once", "--config",
                         str(config), "--log-format", "json"], env, str(ROOT), self.log)
            load_before = _load()
            database = database_url.rsplit("/", 1)[1] if "postgresql" in database_url else None
            with CpuSampler([run.pid, *(w.pid for w in workers)], database) as cpu, \
                    _waits(database_url) as waits:
                began = time.perf_counter()
                try:
                    code = run.wait(timeout=args.deadline)
                except subprocess.TimeoutExpired:
                    stop([run])
                    raise SystemExit(f"{label}: run --once still running after "
                                     f"{args.deadline:.0f} s (see {self.log})") from None
                wall = time.perf_counter() - began
                if code != 0:
                    raise SystemExit(f"{label}: run --once exited {code} (see {self.log})")
                self._settle(database_url, time.monotonic() + args.deadline)
        finally:
            stop(workers)
        stored, pairs = _read(str(database_url))
        first, last = _first_stored(str(database_url)), max(s for _, s in pairs)
        span = (last - first).total_seconds()
        roots, pg = cpu.per_root(first, last)
        ours = sum(roots)
        p50, p99 = _percentiles([(s - f).total_seconds() for f, s in pairs])
        pg_note = (f" + postgres {1000 * (pg.database + pg.server) / stored:.2f} (its backends "
                   f"{1000 * pg.database / stored:.2f}, server {1000 * pg.server / stored:.2f}; "
                   f"other databases {1000 * pg.other / stored:.2f} not counted)"
                   if "postgresql" in database_url else "")
        parts = " ".join(f"{1000 * c / stored:.2f}" for c in roots[1:])
        split = f" (run {1000 * roots[0] / stored:.2f}, workers {parts})" if parts else ""
        print(f"{label:<26} {stored:>6} articles {len(pairs):>6} alerts  wall {wall:5.1f} s  "
              f"first stored→last sent {span:6.2f} s  {stored / span:6.0f} articles/s  "
              f"p50 {p50:5.2f} s p99 {p99:5.2f} s  CPU/article {1000 * ours / stored:.2f} ms"
              f"{split}{pg_note}  load {load_before}→{_load()}", flush=True)
        if waits is not None:
            print(f"{'':<26} PostgreSQL while it ran: {waits.summary()}", flush=True)
        if args.timeline:
            stored_by, processed_by = _phases(str(database_url))
            print(f"{'':<26} after the first entry stored: last stored "
                  f"{(stored_by - first).total_seconds():.2f} s, last processed "
                  f"{(processed_by - first).total_seconds():.2f} s, last alert sent "
                  f"{span:.2f} s", flush=True)
            self._timeline(cpu, first, last, len(roots))

    @staticmethod
    def _timeline(cpu: CpuSampler, first: datetime, last: datetime, roots: int) -> None:
        """Cores each process kept busy, slice by slice (where the span's idle gaps are)."""
        names = ["run"] + [f"worker{i}" for i in range(1, roots)] + ["postgres", "total"]
        print(f"{'':<26} cores busy per 0.2 s: {'  '.join(f'{n:>8}' for n in names)}")
        for offset, cores, pg in cpu.timeline(first, last):
            values = [*cores, pg, sum(cores) + pg]
            print(f"{'':<26} {offset:5.1f} s{'':<14} "
                  f"{'  '.join(f'{v:8.2f}' for v in values)}", flush=True)

    # --- idle latency: a trickle into a running service ----------------------------

    def idle(self, label: str, settings: dict[str, object], database_url: str) -> None:
        args = self.args
        feeds = 4
        bodies = {f: 0 for f in range(feeds)}  # feed -> items published so far
        paths = [f"/{label.split()[0]}/idle{f}.xml" for f in range(feeds)]
        for feed, path in enumerate(paths):
            self.server.reply(path, feed_body(feed, 0, VOCABULARY, 1.0, utc_now()), headers=RSS)
        config = _config(self.tmp / f"{label}-idle",
                         [{"url": self.server.url(p), "interval": "1s"} for p in paths], settings)
        env = self.env | {"NEWSWATCH_CONFIG": str(config)}
        workers = self._workers(env, settings)
        service = start([sys.executable, "-m", "service", "run", "--config", str(config),
                         "--log-format", "json"], env, str(ROOT), self.log)
        children = [service, *workers]
        try:
            self._wait_polled(paths, time.monotonic() + args.deadline, children)
            mark = self._max_article(database_url)
            sent_before = len(self.inbox.received)
            for n in range(args.idle):
                feed = n % feeds
                bodies[feed] += 1  # one more fresh item on top of the older ones
                self.server.reply(paths[feed], feed_body(
                    1000 + feed, bodies[feed], VOCABULARY, 1.0, utc_now()), headers=RSS)
                time.sleep(args.every)
            self.inbox.wait_for(sent_before + args.idle, timeout=args.deadline)
        finally:
            codes = stop(children)
        stored, pairs = _read(str(database_url), mark)
        latencies = sorted((s - f).total_seconds() for f, s in pairs)
        p50, p99 = _percentiles(latencies)
        p90 = quantiles(latencies, n=10, method="inclusive")[8] if len(latencies) > 1 else p99
        print(f"{label:<26} idle: {args.idle} items, one every {args.every:.2f} s: "
              f"{stored} stored, {len(pairs)} alerts sent; entry stored → alert sent "
              f"p50 {1000 * p50:.0f} ms  p90 {1000 * p90:.0f} ms  p99 {1000 * p99:.0f} ms  "
              f"max {1000 * latencies[-1]:.0f} ms  over 1 s: {sum(x > 1 for x in latencies)}  "
              f"load {_load()}  exit codes {codes}", flush=True)

    @staticmethod
    def _settle(database_url: str, deadline: float) -> None:
        """Until no alert is pending (workers may still be sending when run --once ends)."""
        engine = create_engine(database_url)
        try:
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    pending = connection.execute(text(
                        "SELECT count(*) FROM alerts WHERE state = 'pending'")).scalar_one()
                if not pending:
                    return
                time.sleep(0.1)
        finally:
            engine.dispose()

    def _wait_polled(self, paths: list[str], deadline: float,
                     children: list[subprocess.Popen[bytes]]) -> None:
        """Until every idle feed was fetched twice (the service is up and idle)."""
        while any(len(self.server.requests_to(p)) < 2 for p in paths):
            if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                raise SystemExit(f"idle: the service did not start polling (see {self.log})")
            time.sleep(0.1)

    @staticmethod
    def _max_article(database_url: str) -> int:
        engine = create_engine(database_url)
        with engine.connect() as connection:
            value = connection.execute(text("SELECT coalesce(max(id), 0) FROM articles"))
            top = int(value.scalar_one())
        engine.dispose()
        return top

    def _workers(self, env: dict[str, str],
                 settings: dict[str, object]) -> list[subprocess.Popen[bytes]]:
        """Started and answering a ping (their pools up) before any feed is served,
        as long-running workers are: their start-up is not the articles' cost."""
        if "broker_url" not in settings:
            return []
        names = [f"bench{i}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
                 for i in range(self.args.workers)]
        workers = [start([sys.executable, "-m", "celery", "-A", "workers", "worker",
                          f"--concurrency={self.args.concurrency}", "-Q", "newswatch",
                          "--loglevel=WARNING",
                          "--hostname", name], env, str(ROOT), self.log) for name in names]
        control = Celery(broker=str(settings["broker_url"]))
        deadline = time.monotonic() + self.args.deadline
        try:
            answered: set[str] = set()
            while not answered.issuperset(names):
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    stop(workers)
                    raise SystemExit(f"workers did not start (see {self.log})")
                replies = control.control.ping(destination=names, timeout=1.0)
                answered.update(name for reply in replies for name in reply)
        finally:
            control.close()
        return workers


def _postgres(env: dict[str, str]) -> tuple[str, str]:
    name = f"newswatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _redis_db() -> Iterator[str]:
    """A Redis database of our own, claimed as the tests claim theirs, emptied after."""
    for db in REDIS_DBS:
        client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
        if client.set(_REDIS_OWNER_KEY, f"bench_pipeline {os.getpid()}", nx=True, ex=3600):
            break
        client.close()
    else:
        raise SystemExit(f"no free Redis database among {list(REDIS_DBS)}")
    try:
        for key in client.scan_iter():
            if key != _REDIS_OWNER_KEY.encode():
                client.delete(key)
        yield f"{REDIS_URL}/{db}"
    finally:
        client.flushdb()
        client.close()


def _distributed(bench: Bench, phase: str, pg: str, broker: str) -> None:
    settings: dict[str, object] = {"database_url": pg, "broker_url": broker}
    env = bench.env | {"NEWSWATCH_CONFIG": str(_config(bench.tmp / f"migrate-{phase}", [],
                                                       settings))}
    subprocess.run([sys.executable, "-m", "service", "db", "upgrade"], env=env, cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    args = bench.args
    pool = f" x {args.concurrency}" if args.concurrency != 1 else ""
    label = f"distributed ({args.workers}{pool} workers)"
    run = bench.throughput if phase == "once" else bench.idle
    run(label, settings, pg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="pool processes of each worker (the CPU is printed per worker)")
    parser.add_argument("--alert-fraction", type=float, default=1.0)
    parser.add_argument("--idle", type=int, default=40, help="trickle items (0: skip)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between them")
    parser.add_argument("--modes", default="embedded,distributed")
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument("--timeline", action="store_true",
                        help="print the cores each process kept busy per 0.2 s of the run")
    parser.add_argument("--log", help="keep the children's output in this file")
    parser.add_argument("--dedup", default="{}", help='dedup settings as JSON, e.g. '
                        '\'{"same_event": true}\' to measure the same-event path\'s cost')
    args = parser.parse_args()
    modes = args.modes.split(",")
    DEDUP.update(json.loads(args.dedup))
    print(f"{args.feeds} feeds x {args.items} fresh items, {args.alert_fraction:.0%} alerting; "
          f"2-core machine, load {_load()}", flush=True)
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, server, Path(tmp))
        if "embedded" in modes:
            for phase in ("once", "idle"):
                if phase == "idle" and not args.idle:
                    continue
                sqlite = f"sqlite:///{tmp}/{phase}.db"
                run = bench.throughput if phase == "once" else bench.idle
                run("embedded (SQLite)", {"database_url": sqlite}, sqlite)
        if "distributed" in modes:
            for phase in ("once", "idle"):
                if phase == "idle" and not args.idle:
                    continue
                name, pg = _postgres(bench.env)
                try:
                    with _redis_db() as broker:
                        _distributed(bench, phase, pg, broker)
                finally:
                    _drop(name)


if __name__ == "__main__":
    main()
