"""Poller benchmark: N feeds from a local feed server in a separate process.

    .venv/bin/python benchmarks/bench_poller.py                 # 10,000 feeds, 100,000 registered
    .venv/bin/python benchmarks/bench_poller.py --feeds 2000 --registered 20000 --naive-sample 50

The server (aiohttp, its own process) answers 90% of the feeds with 304 Not
Modified and 10% with a changed 20-item RSS feed (about 1.5 KB of HTML per
item). The poller is the real one: conditional GET with the stored ETag,
parse in a process pool, new entries stored in SQLite, ids handed to a
dispatcher that only counts them. Printed: feeds/s, changed feeds parsed/s,
p50/p99 per-feed latency, event-loop lag, peak RSS (poller and parse
workers), the naive way (``feedparser.parse(url)`` one feed after another,
on a sample, extrapolated) as a ratio, and the poller's RSS with 100,000
registered feeds (loaded from a feeds.yaml, synced, scheduled).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOREM = ("Officials in Baku and Paris met on Tuesday to discuss the <b>release</b> of "
         "prisoners, energy contracts and a new air route; <a href='https://x.example/'>"
         "analysts</a> said the talks marked a thaw after two difficult years. ")


# --- the feed server (its own process) ------------------------------------------------------


def rss(feed: int, version: int, items: int) -> bytes:
    entries = "".join(
        f"<item><guid>f{feed}-v{version}-{i}</guid><title>Story {i} of feed {feed}, take "
        f"{version}</title><link>https://news{feed % 97}.example/{feed}/{version}/{i}</link>"
        f"<pubDate>Sat, 01 Mar 2025 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description><![CDATA[<p>{LOREM * 6}</p>]]></description></item>"
        for i in range(items)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>https://news.example/{feed}</link>"
            f"{entries}</channel></rss>").encode()


def serve(port: int, hosts: Sequence[str], items: int, changed_every: int) -> None:
    from aiohttp import web

    version = 0

    async def feed(request: web.Request) -> web.StreamResponse:
        nonlocal version
        number = int(request.match_info["n"])
        changed = number % changed_every == 0
        if not changed and request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        version += 1
        return web.Response(body=rss(number, version, items), headers={
            "ETag": f'"v{version + 1}"', "Content-Type": "application/rss+xml"})

    app = web.Application()
    app.router.add_get("/feed/{n}.xml", feed)
    web.run_app(app, host=list(hosts), port=port, print=None, access_log=None,
                handle_signals=True)


def start_server(hosts: Sequence[str], items: int, changed_every: int) -> tuple[Any, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(port, hosts, items, changed_every), daemon=True)
    process.start()
    for _ in range(200):
        try:
            socket.create_connection((hosts[-1], port), timeout=0.1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("feed server did not start")


# --- the poller run ---------------------------------------------------------------------------


class CountingDispatcher:
    def __init__(self) -> None:
        self.ids = 0

    def submit(self, article_ids: Sequence[int]) -> None:
        self.ids += len(article_ids)

    async def drain(self, timeout: float) -> int:
        return 0

    def close(self) -> None:
        return None


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - started - 0.01)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def poll_all(urls: Sequence[str], database_url: str, per_host: int) -> dict[str, Any]:
    from sqlalchemy import update

    from service.config.models import FeedConfig, FetchSettings, PollSettings, Settings
    from service.poller import make_session
    from service.polling import HostLimiter, PollContext, poll_feed
    from service.storage.articles import ArticleStore
    from service.storage.database import Database
    from service.storage.feeds import FeedStore
    from service.storage.models import FeedRow

    settings = Settings(database_url=database_url,
                        fetch=FetchSettings(allow_private_addresses=True,
                                            per_host_concurrency=per_host),
                        poll=PollSettings())
    feeds = [FeedConfig(url=u) for u in urls]
    database = Database.open(database_url)
    store = FeedStore(database)
    store.sync(feeds, datetime.now(UTC))
    with database.session() as session, session.begin():  # the steady state: validators known
        session.execute(update(FeedRow).values(etag='"v1"'))
    states = store.states()
    dispatcher = CountingDispatcher()
    pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 1,
                               mp_context=multiprocessing.get_context("spawn"))
    pool.submit(int, 0).result()  # workers up before the clock starts
    from service.poll_resources import settle_heap

    settle_heap()  # as Service._serve does once the queue is built
    worker_pids = list(pool._processes)
    cpu_before = (time.process_time(), sum(cpu_seconds(pid) for pid in worker_pids))
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    lags: list[float] = []
    stop = asyncio.Event()
    async with make_session(settings.fetch) as http:
        ctx = PollContext(settings=settings, session=http, parse_pool=pool, feeds=store,
                          articles=ArticleStore(database), dispatcher=dispatcher,
                          now=lambda: datetime.now(UTC), rng=random.Random(1),
                          hosts=HostLimiter(per_host))
        pending = iter(feeds)

        async def worker() -> None:
            for feed in pending:
                started = time.perf_counter()
                outcome = await poll_feed(ctx, feed, states[feed.url])
                latencies.append(time.perf_counter() - started)
                outcomes[outcome.status] = outcomes.get(outcome.status, 0) + 1

        monitor = asyncio.create_task(loop_lag(stop, lags))
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(settings.fetch.concurrency)))
        elapsed = time.perf_counter() - began
        stop.set()
        await monitor
    poller_cpu = time.process_time() - cpu_before[0]
    workers_cpu = sum(cpu_seconds(pid) for pid in worker_pids) - cpu_before[1]
    workers = [vm_hwm_mb(pid) for pid in pool._processes]
    pool.shutdown()
    database.close()
    latencies.sort()
    lags.sort()
    return {
        "feeds": len(feeds), "seconds": elapsed, "feeds_per_s": len(feeds) / elapsed,
        "changed_parsed_per_s": outcomes.get("ok", 0) / elapsed, "outcomes": outcomes,
        "new_entries": dispatcher.ids,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "lag_p99_ms": 1000 * lags[int(len(lags) * 0.99)], "lag_max_ms": 1000 * lags[-1],
        "poller_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parse_worker_peak_rss_mb": max(workers, default=0.0),
        "poller_cpu_s": poller_cpu, "parse_workers_cpu_s": workers_cpu,
    }


def naive(urls: Sequence[str]) -> float:
    """Seconds per feed for ``feedparser.parse(url)``, one feed after another."""
    import feedparser

    began = time.perf_counter()
    for url in urls:
        feedparser.parse(url)
    return (time.perf_counter() - began) / len(urls)


# --- 100,000 registered feeds (own process, so its RSS is its own) ------------------------------


def registered(count: int, workdir: Path) -> dict[str, Any]:
    from service.config import load_config
    from service.poll_resources import settle_heap
    from service.runner import _poll_queue
    from service.storage.database import Database
    from service.storage.feeds import FeedStore

    imports_rss = _vm_rss_mb()  # the service's modules alone, before any feed
    config_dir = workdir / "config"
    (config_dir / "watchlists").mkdir(parents=True)
    (config_dir / "newswatch.yaml").write_text(
        f"database_url: sqlite:///{workdir / 'registered.db'}\n")
    lines = ["feeds:"] + [f"  - url: https://feeds{i % 5000}.example/{i}.xml" for i in range(count)]
    (config_dir / "feeds.yaml").write_text("\n".join(lines) + "\n")
    began = time.perf_counter()
    config = load_config(config_dir, {})
    loaded = time.perf_counter() - began
    database = Database.open(config.settings.database_url)
    now = datetime.now(UTC)
    store = FeedStore(database)
    store.register(config.feeds, now)  # as `newswatch run` starts (Service._serve)
    synced = time.perf_counter() - began
    feeds_by_url = {feed.url: feed for feed in config.feeds}
    queue = _poll_queue(store.schedule(), feeds_by_url, config, now)
    settle_heap()  # as Service._serve does
    began_gc = time.perf_counter()
    gc.collect()  # what a full collection costs the event loop now
    full_gc_ms = 1000 * (time.perf_counter() - began_gc)
    rss_now = _vm_rss_mb()
    return {"registered": len(queue), "load_s": loaded, "load_and_sync_s": synced,
            "rss_mb": rss_now, "peak_rss_mb": vm_hwm_mb(os.getpid()),
            "imports_rss_mb": imports_rss, "full_gc_ms": full_gc_ms}


def _vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--changed-every", type=int, default=10, help="1 in N feeds changed")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses served")
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--registered", type=int, default=100_000)
    parser.add_argument("--phase", choices=["all", "registered"], default="all")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-poller-"))
    from service.logs import configure_logging

    configure_logging("warning", "console")  # as ops would run 10,000 feeds
    if args.phase == "registered":
        print(json.dumps(registered(args.registered, workdir)))
        return
    hosts = [f"127.0.0.{i + 1}" for i in range(args.hosts)]
    server, port = start_server(hosts, args.items, args.changed_every)
    try:
        urls = [f"http://{hosts[i % len(hosts)]}:{port}/feed/{i}.xml" for i in range(args.feeds)]
        print(f"polling {args.feeds} feeds ({100 // args.changed_every}% changed, "
              f"{args.items} items) from {len(hosts)} loopback hosts, "
              f"{os.cpu_count()} cores ...", flush=True)
        run = asyncio.run(poll_all(urls, f"sqlite:///{workdir / 'bench.db'}", args.per_host))
        sample = urls[: args.naive_sample]
        per_feed = naive(sample)
    finally:
        server.terminate()
        server.join(10)
    report(run, per_feed, len(sample), args)
    changed_only(hosts, args, workdir)
    result = subprocess.run(
        [sys.executable, __file__, "--phase", "registered", "--registered", str(args.registered)],
        capture_output=True, text=True, check=True)
    reg = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"registered feeds:        {reg['registered']:,} (feeds.yaml loaded in "
          f"{reg['load_s']:.1f} s, synced to SQLite by {reg['load_and_sync_s']:.1f} s)")
    print(f"  poller RSS:            {reg['rss_mb']:.0f} MB after start-up "
          f"(peak {reg['peak_rss_mb']:.0f} MB; {reg['imports_rss_mb']:.0f} MB of it the "
          f"modules imported before any feed; a full garbage collection then takes "
          f"{reg['full_gc_ms']:.1f} ms)")


def changed_only(hosts: Sequence[str], args: argparse.Namespace, workdir: Path) -> None:
    """Parse capacity: every feed changed (a tenth of --feeds of them)."""
    server, port = start_server(hosts, args.items, 1)
    try:
        count = max(args.feeds // 10, 1)
        urls = [f"http://{hosts[i % len(hosts)]}:{port}/feed/{i}.xml" for i in range(count)]
        server_cpu = cpu_seconds(server.pid)
        run = asyncio.run(poll_all(urls, f"sqlite:///{workdir / 'changed.db'}", args.per_host))
        server_cpu = cpu_seconds(server.pid) - server_cpu
    finally:
        server.terminate()
        server.join(10)
    print(f"all changed:             {count:,} changed feeds fetched, parsed and stored in "
          f"{run['seconds']:.1f} s = {run['changed_parsed_per_s']:.0f} changed feeds/s "
          f"(lag p99 {run['lag_p99_ms']:.0f} ms; load average {os.getloadavg()[0]:.1f})")
    # CPU per feed does not depend on what else the machine runs: the capacity of
    # two otherwise idle cores, without the feed server, which shares them here
    poller_ms = 1000 * run["poller_cpu_s"] / count
    workers_ms = 1000 * run["parse_workers_cpu_s"] / count
    print(f"  CPU per changed feed:  poller {poller_ms:.1f} ms (fetch, store, event loop), "
          f"parse workers {workers_ms:.1f} ms, feed server {1000 * server_cpu / count:.1f} ms "
          f"-> two idle cores: ~{2000 / (poller_ms + workers_ms):.0f} changed feeds/s, "
          f"poller-bound at ~{1000 / poller_ms:.0f}/s")


def report(run: dict[str, Any], per_feed: float, sample: int, args: argparse.Namespace) -> None:
    naive_total = per_feed * run["feeds"]
    print(f"feeds polled:            {run['feeds']:,} in {run['seconds']:.1f} s "
          f"= {run['feeds_per_s']:.0f} feeds/s  {run['outcomes']}")
    print(f"changed feeds parsed:    {run['changed_parsed_per_s']:.0f}/s "
          f"({run['new_entries']:,} new entries stored)")
    print(f"per-feed latency:        p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms")
    print(f"event-loop lag:          p99 {run['lag_p99_ms']:.1f} ms, "
          f"max {run['lag_max_ms']:.1f} ms")
    print(f"peak RSS:                poller {run['poller_peak_rss_mb']:.0f} MB, "
          f"each parse worker <= {run['parse_worker_peak_rss_mb']:.0f} MB")
    print(f"naive feedparser.parse:  {1000 * per_feed:.1f} ms/feed over {sample} feeds, "
          f"{naive_total:.0f} s for {run['feeds']:,} "
          f"-> newswatch is {naive_total / run['seconds']:.1f}x faster")


if __name__ == "__main__":
    main()
