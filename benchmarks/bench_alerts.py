"""Alert rendering and delivery speed: what one alert costs newswatch itself.

    .venv/bin/python benchmarks/bench_alerts.py [--alerts 300] [--render 2000] [--emails 20]
        [--postgresql postgresql://localhost/test]

1. Rendering: one alert per channel kind (Slack, HTML email with its text
   part, markdown, text), ``--render`` times each, default templates.
2. Outbox: ``--alerts`` alerts stored in SQLite (as the pipeline writes them)
   and sent by the real sender to a local json:// endpoint (apprise posts
   over HTTP on loopback; the endpoint runs in a thread of this process, so
   its CPU is counted too); with ``--postgresql ADMIN_URL`` also in a fresh
   PostgreSQL database made (and dropped) through that server.
3. Email: ``--emails`` alerts as multipart email to a local SMTP server
   (aiosmtpd, same process, its CPU counted) through one channel,
   apprise's per-channel pacing switched off to measure our own cost; then
   the pacing apprise applies between two emails of one channel
   (``request_rate_per_sec``), which bounds a burst in production.

Prints wall-clock rates, CPU time per alert (time.process_time) and the load
average, since a shared machine distorts wall-clock figures.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.config.models import AlertSettings, SubscriptionConfig
from service.domain import Evidence, Match
from service.logs import configure_logging
from service.notify.channels import build_channel, build_channels
from service.notify.sender import AlertSender, Recipient, deliver, message_maker
from service.rendering import KINDS, Limits, Renderer
from service.storage import AlertStore, Database
from service.storage.records import AlertView
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, SmtpInbox, store_alerts

NOW = datetime.now(UTC).replace(microsecond=0)
SUB = SubscriptionConfig(id="desk", name="Caucasus desk", notify=("console://",),
                         entities=("ilham-aliyev",))
SENTENCE = "On May 27, Aliyev pardoned French national Théo Clerc, <b>sources</b> said."


def view(i: int) -> AlertView:
    evidence = Evidence("summary", SENTENCE, ((11, 17),))
    return AlertView(
        id=i, subscription_id="desk", story_id=i, attempts=0, delivered=(),
        title=f"Aliyev pardons French national <{i}>", url=f"https://news.example/{i}?a=1&b=2",
        source="Wire", published_at=NOW,
        matches=(Match("entity", "ilham-aliyev", "Ilham Aliyev", (evidence,)),),
        other_outlets=("APA", "Euro Desk"),
    )


def timed(action: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_render(count: int) -> None:
    renderer, views = Renderer(), [view(i) for i in range(count)]
    for kind in KINDS:
        wall, cpu = timed(lambda kind=kind: [renderer.alert(kind, v, SUB, {}, Limits(4000))
                                             for v in views])
        print(f"render {kind:<11} {count / wall:8.0f} alerts/s  "
              f"{cpu / count * 1e6:6.0f} µs CPU/alert")


@contextmanager
def postgresql(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on ``admin_url``'s server, dropped afterwards."""
    name = f"newswatch_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].split("://", 1)[1]
        yield f"postgresql+psycopg://{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_outbox(count: int, url: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as server:
        database = Database.open(url or f"sqlite:///{Path(tmp) / 'nw.db'}")
        endpoint = JsonEndpoint(server)
        store_alerts(database, ["desk"], count, NOW)
        sub = SubscriptionConfig(id="desk", notify=(endpoint.apprise_url,))
        sender = AlertSender(AlertStore(database), {"desk": Recipient(sub, build_channels(
            sub.notify))}, {}, AlertSettings(), rng=random.Random(1))
        wall, cpu = timed(lambda: sender.send_due(lambda: NOW))
        database.close()
    assert len(endpoint.received) == count, len(endpoint.received)
    print(f"outbox json:// {database.dialect[:6]:<6} {count / wall:5.0f} alerts/s  "
          f"{cpu / count * 1e3:6.2f} ms CPU/alert"
          f"  (claim, render, POST, mark sent; {count} alerts over {endpoint.connections}"
          f" connection(s))")


def bench_email(count: int) -> None:
    with SmtpInbox() as inbox:
        channel = build_channel(0, inbox.url())
        pacing = channel.plugin.request_rate_per_sec
        channel.plugin.request_rate_per_sec = 0  # measure our cost, not apprise's pacing
        recipient = Recipient(SUB, (channel,), Renderer())
        wall, cpu = timed(lambda: [deliver([channel], message_maker(
            recipient, [view(i)], {}, digest=False), ()) for i in range(count)])
        assert len(inbox.wait_for(count)) == count
    print(f"email multipart    {count / wall:8.0f} alerts/s  {cpu / count * 1e3:6.2f} ms CPU/alert"
          f"  (SMTP on loopback, {inbox.connections} connection(s); apprise paces one"
          f" channel's emails {pacing} s apart)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--render", type=int, default=2000)
    parser.add_argument("--emails", type=int, default=20)
    parser.add_argument("--postgresql", metavar="ADMIN_URL",
                        help="also the outbox on PostgreSQL (a database made on this server)")
    args = parser.parse_args()
    configure_logging("warning", "console")  # not one line per alert sent
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    bench_render(args.render)
    bench_outbox(args.alerts)
    if args.postgresql:
        with postgresql(args.postgresql) as url:
            bench_outbox(args.alerts, url)
    bench_email(args.emails)


if __name__ == "__main__":
    main()
