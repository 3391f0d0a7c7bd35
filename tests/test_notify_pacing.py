"""Pacing per channel: a burst to one paced channel does not hold up the others.

apprise would sleep ``request_rate_per_sec`` (5.5 s for email) inside the
send; a channel built with ``sender_paces`` does not, and the sender pauses
it instead. The clock is the test's: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apprise.plugins.email import NotifyEmail
from apprise.plugins.slack import NotifySlack
from sqlalchemy import event

from service import runner
from service.config import load_config
from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import build_channel, build_channels
from service.notify.mail import MultipartEmail
from service.notify.sender import AlertSender, Recipient
from service.storage import AlertStore, Database
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, SmtpInbox, store_alerts

T0 = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
EMAIL_PACE = timedelta(seconds=5.5)  # apprise's NotifyBase.request_rate_per_sec


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with SmtpInbox() as box:
        yield box


def test_a_sender_paced_channel_keeps_apprise_s_interval_and_does_not_sleep(
    inbox: SmtpInbox,
) -> None:
    email = build_channel(0, inbox.url(), sender_paces=True)
    assert isinstance(email.plugin, MultipartEmail)
    assert email.pace == EMAIL_PACE and email.plugin.request_rate_per_sec == 0
    slack = build_channel(0, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/",
                          sender_paces=True)
    assert slack.pace == timedelta(seconds=1.2) and slack.plugin.request_rate_per_sec == 0
    assert build_channel(0, "json://127.0.0.1/x", sender_paces=True).pace == timedelta(0)
    assert build_channel(0, "console://", sender_paces=True).pace == timedelta(0)  # printing
    # apprise's classes keep their rates: only our plugin instances changed
    assert NotifyEmail.request_rate_per_sec == 5.5 and MultipartEmail.request_rate_per_sec == 5.5
    assert NotifySlack.request_rate_per_sec == 1.2
    sleeping = build_channel(0, inbox.url())  # the default (run --once, ops): apprise sleeps
    assert sleeping.pace == timedelta(0) and sleeping.plugin.request_rate_per_sec == 5.5


def _rows(database: Database) -> dict[str, tuple[str, int]]:
    """Per alert title: its state and attempts."""
    return {r.title: (r.state, r.attempts)
            for r in AlertStore(database).recent(T0 - timedelta(days=1))}


def _due(database: Database) -> dict[str, datetime | None]:
    """Per pending alert title: when it may go out."""
    return {r.title: r.next_attempt_at
            for r in AlertStore(database).recent(T0 - timedelta(days=1)) if r.state == "pending"}


def test_a_burst_to_a_paced_channel_goes_one_per_interval_while_others_go_at_once(
    database: Database, server: FeedServer, inbox: SmtpInbox,
) -> None:
    hook = JsonEndpoint(server)
    mail = SubscriptionConfig(id="mail", notify=(inbox.url(),))
    desk = SubscriptionConfig(id="desk", notify=(hook.apprise_url,))
    recipients = {sub.id: Recipient(sub, build_channels(sub.notify, sender_paces=True))
                  for sub in (mail, desk)}
    sender = AlertSender(AlertStore(database), recipients, {}, AlertSettings(max_attempts=3),
                         rng=random.Random(6))
    store_alerts(database, ["mail"], 3, T0, title="Burst")
    store_alerts(database, ["desk"], 1, T0 - timedelta(seconds=1), title="Desk")  # queued last

    first = sender.send_due(lambda: T0)
    assert (first.sent, first.deferred, first.failed) == (2, 2, 0)
    assert first.resume_at == T0 + EMAIL_PACE
    assert hook.titles() == ["[newswatch] desk: Desk 0"]  # not behind the burst
    assert [m["Subject"] for m in inbox.wait_for(1)] == ["[newswatch] mail: Burst 0"]
    assert _rows(database) == {"Burst 0": ("sent", 1), "Burst 1": ("pending", 0),
                               "Burst 2": ("pending", 0), "Desk 0": ("sent", 1)}
    assert _due(database) == {"Burst 1": T0 + EMAIL_PACE, "Burst 2": T0 + 2 * EMAIL_PACE}

    early = sender.send_due(lambda: T0 + timedelta(seconds=5))  # the channel is still paused
    assert (early.sent, early.deferred, early.resume_at) == (0, 0, T0 + EMAIL_PACE)

    second = sender.send_due(lambda: T0 + EMAIL_PACE)  # Burst 2 waits for its turn, untouched
    assert (second.sent, second.deferred, second.resume_at) == (1, 0, T0 + 2 * EMAIL_PACE)
    third = sender.send_due(lambda: T0 + 2 * EMAIL_PACE)
    assert (third.sent, third.deferred, third.resume_at) == (1, 0, None)

    subjects = [m["Subject"] for m in inbox.wait_for(3)]
    assert subjects == [f"[newswatch] mail: Burst {i}" for i in range(3)]  # in order, once each
    assert len(hook.received) == 1 and hook.attempts == 1
    assert set(_rows(database).values()) == {("sent", 1)}  # deferrals counted no attempt
    assert sender.send_due(lambda: T0 + timedelta(minutes=5)).sent == 0
    assert len(inbox.messages) == 3


class AlertWrites:
    """UPDATE statements on the outbox, and the rows changed by those that record an
    outcome (a claim's count is its batch: the driver counts RETURNING rows only once read)."""

    def __init__(self, database: Database) -> None:
        self.statements = self.rows = 0
        event.listen(database.engine, "after_cursor_execute", self._seen)

    def _seen(self, conn: object, cursor: Any, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE ALERTS"):
            self.statements += 1
            if "RETURNING" not in statement.upper():
                self.rows += cursor.rowcount

    def take(self) -> tuple[int, int]:
        counts, self.statements, self.rows = (self.statements, self.rows), 0, 0
        return counts


def test_a_burst_to_a_paced_channel_writes_each_waiting_alert_once_not_once_per_pass(
    database: Database, inbox: SmtpInbox,
) -> None:
    """Each deferred alert gets its own turn in one statement and is not claimed
    before it: O(N) row updates for a burst of N, where deferring the whole rest
    of the burst again on every pass cost N²/2."""
    burst = 12
    mail = SubscriptionConfig(id="mail", notify=(inbox.url(),))
    sender = AlertSender(AlertStore(database), {"mail": Recipient(
        mail, build_channels(mail.notify, sender_paces=True))}, {}, AlertSettings())
    store_alerts(database, ["mail"], burst, T0, title="Burst")
    writes, now = AlertWrites(database), T0
    passes: list[tuple[int, int, int, int]] = []
    while len(passes) <= 2 * burst:
        report = sender.send_due(lambda: now)  # noqa: B023 (called before now moves)
        passes.append((report.sent, report.deferred, *writes.take()))
        if report.resume_at is None:
            break
        now = report.resume_at
    # first pass: claim the burst, mark one sent, defer the rest: three statements
    assert passes[0] == (1, burst - 1, 3, burst)
    # then one pass per turn: claim that alert alone (nothing else deferred), mark it sent
    assert passes[1:] == [(1, 0, 2, 1)] * (burst - 1)
    assert now == T0 + (burst - 1) * EMAIL_PACE
    subjects = [m["Subject"] for m in inbox.wait_for(burst)]
    assert subjects == [f"[newswatch] mail: Burst {i}" for i in range(burst)]
    assert set(_rows(database).values()) == {("sent", 1)}


async def test_the_run_loop_wakes_when_a_paused_channel_may_send_again(
    tmp_path: Path, server: FeedServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sender loop's next pass comes when the pause ends, not a period later:
    with the period an hour, three alerts to a channel paced 50 ms still all leave."""
    monkeypatch.setattr(runner, "SEND_EVERY", timedelta(hours=1))
    config_dir = tmp_path / "config"
    (config_dir / "watchlists").mkdir(parents=True)
    (config_dir / "feeds.yaml").write_text("feeds: []\n")
    (config_dir / "newswatch.yaml").write_text(
        f"database_url: sqlite:///{tmp_path / 'nw.db'}\nweb: {{enabled: false}}\n")
    service = runner.Service(load_config(config_dir, {}), once=False)
    hook = JsonEndpoint(server)
    sub = SubscriptionConfig(id="desk", notify=(hook.apprise_url,))
    paced = tuple(replace(c, pace=timedelta(milliseconds=50))
                  for c in build_channels(sub.notify, sender_paces=True))
    service.sender = AlertSender(AlertStore(service.database), {"desk": Recipient(sub, paced)},
                                 {}, AlertSettings(), rng=random.Random(6))
    store_alerts(service.database, ["desk"], 3, runner.utcnow() - timedelta(seconds=1))
    stop = asyncio.Event()
    loop = asyncio.create_task(service._send_until(stop))
    try:
        # the endpoint signals each post it accepts; 60 s is a failure bound (passing: ~0.1 s)
        await asyncio.to_thread(hook.wait_for, 3, 60)
    finally:
        stop.set()
        await loop
        service.close()
    assert hook.titles() == [f"[newswatch] desk: Story {i}" for i in range(3)]
    assert hook.attempts == 3
