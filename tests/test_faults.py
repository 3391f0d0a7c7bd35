"""Faults survived, with real processes and the real PostgreSQL and Redis."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import redis
from aiohttp import web
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.scenario import WATCHLIST, AlertInbox, _rss_item, now_utc, scenario_env
from tests.tcpproxy import TcpProxy
from tests.test_ops_endpoints import RunningService
from tests.test_run_forever import GrowingFeed

# A fault injected in the database itself: storing this article's result fails,
# every time, as a corrupt row or a bug would (no hook in the product).
POISON_TRIGGER = """
CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
BEGIN
  IF NEW.title = 'POISON Macron' AND NEW.state IN ('processed', 'duplicate') THEN
    RAISE EXCEPTION 'poison article refused by the database';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_poison BEFORE UPDATE ON articles
  FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""


def _psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")


def _write_config(config: Path, feed_url: str, settings: dict[str, object],
                  interval: str | None = None) -> Path:
    """A configuration with the scenario watchlist and one feed."""
    (config / "watchlists").mkdir(parents=True)
    (config / "watchlists" / "w.yaml").write_text(WATCHLIST)
    feed: dict[str, str] = {"url": feed_url} | ({"interval": interval} if interval else {})
    (config / "feeds.yaml").write_text(json.dumps({"feeds": [feed]}))
    base = {"fetch": {"allow_private_addresses": True}}
    (config / "newswatch.yaml").write_text(json.dumps(base | settings))
    return config


def _macron_items(prefix: str, count: int) -> list[str]:
    """``count`` different ~2 KB stories that all mention Macron."""
    vocabulary = [f"word{n}" for n in range(3000)]
    now = now_utc()
    return [
        _rss_item(f"{prefix}{i}", f"https://x.example/{prefix}{i}", f"Macron note {prefix}{i}",
                  "President Macron spoke about Azerbaijan. "
                  + " ".join(random.Random(i).sample(vocabulary, 250)) + ".", now)
        for i in range(count)
    ]


def _start_worker(env: dict[str, str], name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--concurrency=1",
         "-Q", "newswatch", "--without-gossip", "--without-mingle", "--loglevel=INFO",
         "--hostname", f"{name}@%h"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _start_run_once(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--once", "--config", str(config)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_poison_entry_is_dead_lettered_once_and_ops_told_once(
    tmp_path: Path, pg_url: str
) -> None:
    now = now_utc()
    items = "".join([
        _rss_item("p1", "https://x.example/poison", "POISON Macron", "Macron spoke.", now),
        _rss_item("p2", "https://x.example/fine", "Macron in Paris", "Macron spoke.", now),
    ])
    feed = f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()
    with FeedServer() as server:
        server.reply("/feed.xml", feed)
        inbox = AlertInbox(server)
        ops = AlertInbox(server, "/ops")
        config = _write_config(tmp_path / "config", server.url("/feed.xml"),
                               {"database_url": pg_url, "ops": {"notify": [ops.apprise_url]}})
        env = scenario_env(inbox, config)

        def newswatch(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "service", *args, "--config", str(config)]
            return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=240)

        assert newswatch("db", "upgrade").returncode == 0
        with psycopg.connect(_psycopg_url(pg_url), autocommit=True) as connection:
            connection.execute(POISON_TRIGGER)
        first = newswatch("run", "--once")
        second = newswatch("run", "--once")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert [a for a in inbox.alerts() if a[0] == "macron-watch"] == [
        ("macron-watch", "Macron in Paris")]  # the healthy article went through
    assert len(ops.received) == 1  # exactly one ops message, across both runs
    assert "dead-lettered" in str(ops.received[0]["title"])
    assert "poison article refused by the database" in str(ops.received[0]["message"])
    engine = create_engine(pg_url)
    with engine.connect() as db:
        letters = db.execute(text(
            "SELECT d.attempts, d.error, d.notified_at IS NOT NULL, a.state FROM dead_letters d "
            "JOIN articles a ON a.id = d.ref_id WHERE d.kind = 'article'")).all()
    engine.dispose()
    ((attempts, error, notified, state),) = letters
    assert attempts == 5 and notified and state == "dead"
    assert "poison article refused by the database" in error


def _rss(items: list[str]) -> bytes:
    body = "".join(items)
    return f'<rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()


def _count(pg_url: str, sql: str) -> int:
    engine = create_engine(pg_url)
    with engine.connect() as connection:
        value = int(connection.execute(text(sql)).scalar_one())
    engine.dispose()
    return value


@pytest.mark.timeout(300)  # a pool restart after kill -9 is slow on a loaded machine
def test_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    with FeedServer() as server:
        server.reply("/feed.xml", _rss(_macron_items("k", 300)))
        inbox = AlertInbox(server)
        config = _write_config(tmp_path / "config", server.url("/feed.xml"),
                               {"database_url": pg_url, "broker_url": redis_url})
        env = scenario_env(inbox, config)
        worker = _start_worker(env, f"kill-{tmp_path.name}")
        run = _start_run_once(config, env)
        try:
            killed = _kill_pool_children_mid_batch(worker.pid, pg_url)
            _, run_err = run.communicate(timeout=300)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker_out, _ = worker.communicate(timeout=60)
    assert killed, worker_out[-3000:]
    assert run.returncode == 0, run_err
    assert "WorkerLostError" in worker_out  # the batch really died with its process
    assert _count(pg_url, "SELECT count(*) FROM articles") == 300
    assert _count(pg_url, "SELECT count(*) FROM articles WHERE state = 'new'") == 0
    received = re.findall(r"Task newswatch\.process_articles\[([0-9a-f-]+)\] received", worker_out)
    assert len(received) > len(set(received))  # the killed batch was delivered again
    titles = [title for sub, title in inbox.alerts() if sub == "macron-watch"]
    assert len(titles) == len(set(titles)) == 300  # every one alerted, none twice


def _kill_pool_children_mid_batch(worker_pid: int, pg_url: str) -> list[int]:
    """SIGKILL the worker's pool processes while a batch is in flight.

    A batch stores its articles in one transaction, so progress is not visible
    half-way through; what is visible is its delivery count, committed before
    the work starts: articles attempted and still 'new' are a batch in flight.
    """
    for _ in range(6000):
        in_flight = _count(pg_url, "SELECT count(*) FROM articles "
                                   "WHERE state = 'new' AND attempts > 0") \
            if _has_articles(pg_url) else 0
        if in_flight > 0:
            children = subprocess.run(["pgrep", "-P", str(worker_pid)], capture_output=True,
                                      text=True).stdout.split()
            for child in children:
                os.kill(int(child), signal.SIGKILL)
            return [int(c) for c in children]
        threading.Event().wait(0.05)  # polling the database for the moment to strike
    return []


def _has_articles(pg_url: str) -> bool:
    return _count(pg_url, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_name = 'articles'") == 1


@pytest.mark.timeout(300)  # its own wait allows 240 s (the suite's default, 120 s, cut it short)
def test_two_pollers_fetch_each_feed_once_per_interval(tmp_path: Path, pg_url: str) -> None:
    """A second poller replica, started once the first has fetched every feed, takes
    a share of the feeds, and no feed is ever fetched by both at once."""
    interval, feeds = 3.0, 200
    fetched: dict[str, list[float]] = {}
    lock = threading.Condition()

    async def handler(request: web.Request) -> web.StreamResponse:
        with lock:
            fetched.setdefault(request.path, []).append(time.monotonic())
            lock.notify_all()
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        body = f'<rss version="2.0"><channel><title>{request.path}</title></channel></rss>'
        return web.Response(body=body.encode(), headers={"ETag": '"v1"'})

    def rounds() -> int:
        return min((len(times) for times in fetched.values()), default=0) \
            if len(fetched) == feeds else 0

    with FeedServer() as server:
        paths = [f"/f{i}.xml" for i in range(feeds)]
        for path in paths:
            server.add(path, handler)
        config = tmp_path / "config"
        (config / "watchlists").mkdir(parents=True)
        (config / "feeds.yaml").write_text(json.dumps(
            {"feeds": [{"url": server.url(p), "interval": f"{interval:g}s"} for p in paths]}))
        # debug: an unchanged feed's poll ("feed not modified") is logged only there,
        # and after the first round every poll is one
        (config / "newswatch.yaml").write_text(json.dumps({
            "database_url": pg_url, "web": {"enabled": False}, "log_level": "debug",
            "fetch": {"allow_private_addresses": True}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        pollers = [RunningService(config, env)]

        def polled() -> list[int]:
            return [poller.count("feed polled") + poller.count("feed not modified")
                    for poller in pollers]

        try:
            with lock:  # every fetch wakes it
                assert lock.wait_for(lambda: rounds() >= 1, timeout=120), len(fetched)
                pollers.append(RunningService(config, env))  # the replica added later
                first = rounds()
                assert lock.wait_for(lambda: rounds() >= first + 3 and all(polled()),
                                     timeout=240), (polled(), [p.seen for p in pollers])
        finally:
            codes = [poller.stop() for poller in pollers]
    assert codes == [0, 0]
    for path, times in fetched.items():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= interval * 0.9 - 0.25, (path, gaps)  # never twice at once


def test_database_refusing_connections_for_10s_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    feed = GrowingFeed()
    feed.add("one", "Macron speaks", "President Macron spoke in Paris.")
    with FeedServer() as server, TcpProxy("127.0.0.1", 5432) as proxy:
        server.add("/feed.xml", feed.handle)
        inbox = AlertInbox(server)
        database_url = pg_url.replace(":5432/", f":{proxy.port}/")
        config = _write_config(tmp_path / "config", server.url("/feed.xml"),
                               {"database_url": database_url, "web": {"port": 0}}, "2s")
        service = RunningService(config, scenario_env(inbox, config))
        try:
            inbox.wait_for(1, timeout=60)
            proxy.refuse()
            feed.add("two", "Macron travels", "Emmanuel Macron flew to Baku.")
            threading.Event().wait(10)  # the outage itself: ten seconds of refused connections
            proxy.accept()
            alerts = inbox.wait_for(3, timeout=120)
        finally:
            code = service.stop()
    assert code == 0
    assert service.count("poll crashed; retried soon") >= 1  # the outage was felt
    titles = sorted(str(a["title"]) for a in alerts)
    assert titles == ["[newswatch] desk: Macron travels", "[newswatch] macron-watch: Macron speaks",
                      "[newswatch] macron-watch: Macron travels"]
    assert len(inbox.received) == 3  # and nothing twice


class OwnRedis:
    """A redis-server of the test's own, with AOF, that can be restarted."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):  # until it answers
            try:
                client.ping()
                return
            except redis.ConnectionError:
                threading.Event().wait(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)  # a clean shutdown, as a restart does
        self.process.wait(timeout=30)


@pytest.mark.timeout(400)
def test_redis_restarted_mid_run_every_entry_processed(
    tmp_path: Path, pg_url: str
) -> None:
    broker = OwnRedis(tmp_path)
    broker.start()
    with FeedServer() as server:
        server.reply("/feed.xml", _rss(_macron_items("r", 300)))
        inbox = AlertInbox(server)
        config = _write_config(tmp_path / "config", server.url("/feed.xml"),
                               {"database_url": pg_url, "broker_url": broker.url})
        env = scenario_env(inbox, config)
        worker = _start_worker(env, f"redis-{tmp_path.name}")
        run = _start_run_once(config, env)
        try:
            _wait_processed(pg_url, 20)
            broker.stop()
            broker.start()
            _, run_err = run.communicate(timeout=400)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker_out, _ = worker.communicate(timeout=60)
            broker.stop()
    assert run.returncode == 0, run_err
    assert _count(pg_url, "SELECT count(*) FROM articles") == 300
    waiting = _count(pg_url, "SELECT count(*) FROM articles WHERE state = 'new'")
    assert waiting == 0, worker_out[-3000:]
    titles = [title for sub, title in inbox.alerts() if sub == "macron-watch"]
    assert len(titles) == len(set(titles)) == 300


def _wait_processed(pg_url: str, at_least: int) -> None:
    for _ in range(6000):
        if _has_articles(pg_url) and _count(
                pg_url, "SELECT count(*) FROM articles WHERE state <> 'new'") >= at_least:
            return
        threading.Event().wait(0.05)
    raise AssertionError("processing never started")
