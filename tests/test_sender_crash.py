"""A process killed around a send: restarted, it re-sends at most the message in flight.

The endpoint itself kills the sending process (``kill -9``) the moment the
third alert reaches it, before it answers: the sender cannot have marked
that one, and it must have marked the two before it. Restarted once the
lease of its claim has ended, the sender sends what is left; every alert
reaches the endpoint, and only the one in flight twice (DESIGN.md
"Delivery guarantees"; README "Delivery"). Embedded (SQLite) and
distributed (PostgreSQL) stores alike.

Ops notices likewise: a process killed while its ops channel has not yet
taken a dead letter's notice tells ops after its restart, once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from aiohttp import web
from sqlalchemy import create_engine, text

from service.storage import Database
from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.notifyserver import store_alerts
from tests.scenario import WATCHLIST, AlertInbox, _rss_item, now_utc, scenario_env

ALERTS = 6
KILL_AT = 3  # the endpoint kills the sender when this many alerts have reached it


class KillingEndpoint:
    """A json:// endpoint that records each post and kills the sender at the ``KILL_AT``-th."""

    def __init__(self, server: FeedServer) -> None:
        self.titles: list[str] = []
        self.sender: subprocess.Popen[str] | None = None
        self.started = threading.Event()  # set once ``sender`` is known
        self.armed = True
        server.add("/alerts", self._handle)
        self.apprise_url = f"json://127.0.0.1:{server.port}/alerts"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        self.titles.append(str(payload["title"]))
        if self.armed and len(self.titles) == KILL_AT:
            await asyncio.get_running_loop().run_in_executor(None, self.started.wait)
            assert self.sender is not None
            os.kill(self.sender.pid, signal.SIGKILL)  # before answering: not marked yet
        return web.Response(text="ok")


def _config(directory: Path, database_url: str) -> Path:
    (directory / "watchlists").mkdir(parents=True)
    (directory / "watchlists" / "w.yaml").write_text(WATCHLIST, encoding="utf-8")
    (directory / "feeds.yaml").write_text(json.dumps({"feeds": []}), encoding="utf-8")
    (directory / "newswatch.yaml").write_text(json.dumps({"database_url": database_url}),
                                              encoding="utf-8")
    return directory


def _run_once(config: Path, endpoint: KillingEndpoint) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(ALERTS_URL=endpoint.apprise_url, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--once", "--config", str(config)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _end_leases(database_url: str) -> None:
    """Time passes: the killed sender's claim (a lease) ends, as it would after LEASE."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alerts SET not_before = :past WHERE state = 'pending'"),
                           {"past": now_utc() - timedelta(seconds=1)})
    engine.dispose()


@pytest.mark.timeout(240)
def test_killed_sender_resends_only_the_alert_in_flight(tmp_path: Path, database_url: str
                                                         ) -> None:
    database = Database.open(database_url)
    store_alerts(database, ["desk"], ALERTS, now_utc())
    database.close()
    config = _config(tmp_path / "config", database_url)
    with FeedServer() as server:
        endpoint = KillingEndpoint(server)
        endpoint.sender = killed = _run_once(config, endpoint)
        endpoint.started.set()
        out, _ = killed.communicate(timeout=180)
        assert killed.returncode == -signal.SIGKILL, out[-3000:]
        assert len(endpoint.titles) == KILL_AT
        endpoint.armed = False
        _end_leases(database_url)
        restarted = _run_once(config, endpoint)
        out, _ = restarted.communicate(timeout=180)
        assert restarted.returncode == 0, out[-3000:]
    received = Counter(title.removeprefix("[newswatch] desk: ") for title in endpoint.titles)
    assert set(received) == {f"Story {i}" for i in range(ALERTS)}  # none lost
    # the alerts sent before the one in flight were marked: only that one came twice
    assert {title for title, n in received.items() if n > 1} == {f"Story {KILL_AT - 1}"}
    assert received[f"Story {KILL_AT - 1}"] == 2


class OpsEndpoint:
    """An ops json:// endpoint that kills the sender at its first post, refusing it."""

    def __init__(self, server: FeedServer) -> None:
        self.accepted: list[dict[str, object]] = []
        self.refused = 0
        self.sender: subprocess.Popen[str] | None = None
        self.started = threading.Event()
        server.add("/ops", self._handle)
        self.apprise_url = f"json://127.0.0.1:{server.port}/ops"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        if not self.refused:
            self.refused += 1
            await asyncio.get_running_loop().run_in_executor(None, self.started.wait)
            assert self.sender is not None
            os.kill(self.sender.pid, signal.SIGKILL)
            return web.Response(status=503)  # not taken: the sender never hears it was
        self.accepted.append(payload)
        return web.Response(text="ok")


@pytest.mark.timeout(300)
def test_process_killed_while_telling_ops_of_a_dead_letter_tells_them_after_restart(
    tmp_path: Path, pg_url: str
) -> None:
    from tests.test_faults import POISON_TRIGGER, _psycopg_url, _write_config

    now = now_utc()
    items = "".join([_rss_item("p1", "https://x.example/poison", "POISON Macron",
                               "Macron spoke.", now)])
    feed = f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()
    with FeedServer() as server:
        server.reply("/feed.xml", feed)
        alerts = AlertInbox(server)
        ops = OpsEndpoint(server)
        config = _write_config(tmp_path / "config", server.url("/feed.xml"),
                               {"database_url": pg_url, "ops": {"notify": [ops.apprise_url]}})
        env = scenario_env(alerts, config)
        upgrade = subprocess.run([sys.executable, "-m", "service", "db", "upgrade", "--config",
                                  str(config)], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=120)
        assert upgrade.returncode == 0, upgrade.stderr
        with psycopg.connect(_psycopg_url(pg_url), autocommit=True) as connection:
            connection.execute(POISON_TRIGGER)
        exits = []
        for _ in range(4):  # the poison entry needs runs to use up its deliveries
            ops.sender = run = subprocess.Popen(
                [sys.executable, "-m", "service", "run", "--once", "--config", str(config)],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            ops.started.set()
            out, _ = run.communicate(timeout=240)
            exits.append(run.returncode)
            assert run.returncode in (0, -signal.SIGKILL), out[-3000:]
            if run.returncode == -signal.SIGKILL:
                _end_ops_leases(pg_url)
            elif ops.accepted:
                break
    assert exits.count(-signal.SIGKILL) == 1 and exits[-1] == 0, exits
    assert len(ops.accepted) == 1  # told after the restart, once
    assert "dead-lettered" in str(ops.accepted[0]["title"])
    engine = create_engine(pg_url)
    with engine.connect() as db:
        notified = db.execute(text("SELECT notified_at IS NOT NULL FROM dead_letters")).all()
    engine.dispose()
    assert notified == [(True,)]


def _end_ops_leases(database_url: str) -> None:
    """Time passes: the killed process's claim on its ops notice ends."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE ops_messages SET lease_until = :past "
                                "WHERE sent_at IS NULL"),
                           {"past": now_utc() - timedelta(seconds=1)})
    engine.dispose()
