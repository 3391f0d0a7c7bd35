"""`run --once` and what it leaves for later: digests, quiet hours, retries.

A once-run sends what is due, retries what failed before (the run is the
retry) but never before a lease or a Retry-After ends, leaves digests to
their time unless ``--flush-digests``, and says what waits and until when.
The clock is passed in; nothing sleeps.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app, waiting_line
from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import build_channels
from service.notify.sender import AlertSender, Recipient, Waiting
from service.storage import AlertStore, Database
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, store_alerts
from tests.test_digest import NIGHT, paris
from tests.test_notify_secrets_cli import write_config

T0 = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
HOURLY = {"mode": "digest", "digest": {"every": "1h"}}


def _sender(database: Database, url: str, **options: object) -> AlertSender:
    sub = SubscriptionConfig(id="desk", notify=(url,), **options)  # type: ignore[arg-type]
    return AlertSender(AlertStore(database), {"desk": Recipient(sub, build_channels(sub.notify))},
                       {}, AlertSettings(), rng=random.Random(3))


def test_a_once_run_leaves_digests_to_their_time_and_says_when(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server)
    sender = _sender(database, endpoint.apprise_url, **HOURLY)
    store_alerts(database, ["desk"], 3, T0)
    report = sender.send_due(lambda: T0, ignore_schedule=True)
    assert (report.digested, report.digests, report.sent) == (3, 0, 0)
    assert sender.waiting(T0) == Waiting(digest=3, next_digest=T0 + timedelta(hours=1))
    later = T0 + timedelta(minutes=10)
    assert sender.send_due(lambda: later, ignore_schedule=True).digests == 0
    report = sender.send_due(lambda: later, ignore_schedule=True, flush_digests=True)
    assert (report.digests, report.sent) == (1, 3)
    assert endpoint.titles() == ["[newswatch] desk: 3 new stories"]
    assert sender.waiting(later) == Waiting()


def test_flushing_digests_still_respects_quiet_hours(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server)
    sender = _sender(database, endpoint.apprise_url, quiet_hours=NIGHT.model_dump(), **HOURLY)
    store_alerts(database, ["desk"], 2, paris(27, 23))
    report = sender.send_due(lambda: paris(27, 23), ignore_schedule=True, flush_digests=True)
    assert (report.digested, report.digests) == (2, 0) and endpoint.received == []
    assert sender.waiting(paris(27, 23)) == Waiting(digest=2, next_digest=paris(28, 7))
    assert sender.send_due(lambda: paris(28, 7), flush_digests=True).digests == 1


def test_held_and_retrying_alerts_are_counted_with_their_times(
    database: Database, server: FeedServer
) -> None:
    night = _sender(database, JsonEndpoint(server, "/night").apprise_url,
                    quiet_hours=NIGHT.model_dump())
    store_alerts(database, ["desk"], 2, paris(27, 23))
    assert night.send_due(lambda: paris(27, 23), ignore_schedule=True).held == 2
    assert night.waiting(paris(27, 23)) == Waiting(held=2, held_until=paris(28, 7))
    failing = JsonEndpoint(server, "/failing", statuses=[500, 500])
    day = _sender(database, failing.apprise_url)
    assert day.send_due(lambda: paris(28, 7), ignore_schedule=True).failed == 2
    waiting = day.waiting(paris(28, 7))
    assert (waiting.retrying, waiting.held, waiting.digest) == (2, 0, 0)
    assert waiting.next_retry is not None
    assert timedelta(seconds=15) <= waiting.next_retry - paris(28, 7) <= timedelta(seconds=30)


def test_a_once_run_never_crosses_retry_after_nor_another_sender_s_lease(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, statuses=[429], headers={"Retry-After": "600"})
    sender = _sender(database, endpoint.apprise_url)
    store_alerts(database, ["desk"], 1, T0)
    assert sender.send_due(lambda: T0).failed == 1
    soon = T0 + timedelta(minutes=1)
    assert sender.send_due(lambda: soon, ignore_schedule=True).sent == 0
    assert endpoint.attempts == 1  # not tried again before Retry-After ends
    assert sender.waiting(soon) == Waiting(retrying=1, next_retry=T0 + timedelta(minutes=10))
    assert sender.send_due(lambda: T0 + timedelta(minutes=10), ignore_schedule=True).sent == 1
    t1 = T0 + timedelta(hours=1)
    store_alerts(database, ["desk"], 1, t1, title="Leased")
    store = AlertStore(database)
    (claimed,) = store.claim(t1)  # another sender is sending it
    assert store.claim(t1, ignore_schedule=True) == []
    assert sender.send_due(lambda: t1, ignore_schedule=True).sent == 0
    assert [v.id for v in store.claim(t1 + timedelta(minutes=6))] == [claimed.id]  # lease over


def test_waiting_line_says_what_waits_and_how_to_flush() -> None:
    assert waiting_line(Waiting()) == ""
    line = waiting_line(Waiting(digest=3, next_digest=T0, held=1, held_until=paris(28, 7)))
    assert line == ("alerts waiting: 3 for digests (next 2026-05-27 12:00 UTC), 1 held back "
                    "(quiet hours, rate limits) (until 2026-05-28 05:00 UTC); run --once "
                    "--flush-digests to send the digests now")


def test_run_once_reports_digests_waiting_and_flush_digests_sends_them(
    tmp_path: Path, server: FeedServer, restore_logging: None
) -> None:
    endpoint = JsonEndpoint(server)
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    root = write_config(tmp_path / "config", database_url, [endpoint.apprise_url])
    desk = json.loads((root / "watchlists" / "desk.yaml").read_text())
    desk["subscriptions"][0].update(HOURLY)
    (root / "watchlists" / "desk.yaml").write_text(json.dumps(desk))
    database = Database.open(database_url)
    try:
        store_alerts(database, ["desk"], 2, datetime.now(UTC))
    finally:
        database.close()
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--once", "--config", str(root)], env={"COLUMNS": "300"})
    assert first.exit_code == 0, first.output
    assert "alerts waiting: 2 for digests (next " in first.output
    assert "--flush-digests to send the digests now" in first.output
    assert endpoint.received == []
    second = runner.invoke(app, ["run", "--once", "--flush-digests", "--config", str(root)],
                           env={"COLUMNS": "300"})
    assert second.exit_code == 0, second.output
    assert "2 sent (1 digests)" in second.output and "alerts waiting" not in second.output
    assert endpoint.titles() == ["[newswatch] desk: 2 new stories"]
    alone = runner.invoke(app, ["run", "--flush-digests", "--config", str(root)])
    assert alone.exit_code == 2 and "only with --once" in alone.output
