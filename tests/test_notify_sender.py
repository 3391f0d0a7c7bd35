"""The outbox sender against a real local endpoint, on SQLite and PostgreSQL.

Time is a clock the test moves; nothing sleeps. Endpoints answer scripted
statuses (500, 500, 500, 200), so retries, backoff and dead letters are
real HTTP exchanges through apprise.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import build_channel, build_channels, rate_limit_wait
from service.notify.ops import OpsNotifier
from service.notify.sender import AlertSender, Recipient
from service.rendering import Renderer
from service.storage import AlertStore, Database
from service.storage.ops_messages import OpsOutbox
from tests.clock import Clock
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, SmtpInbox, store_alerts

T0 = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
NAMES = {"ilham-aliyev": "Ilham Aliyev"}


def _sender(
    database: Database, urls: list[str], *, max_attempts: int = 8,
    ops: OpsNotifier | None = None, **options: object,
) -> AlertSender:
    sub = SubscriptionConfig(id="desk", notify=tuple(urls), entities=("ilham-aliyev",),
                             **options)  # type: ignore[arg-type]
    recipients = {"desk": Recipient(sub, build_channels(sub.notify))}
    return AlertSender(AlertStore(database), recipients, NAMES,
                       AlertSettings(max_attempts=max_attempts), rng=random.Random(6), ops=ops,
                       ops_outbox=OpsOutbox(database))


def test_500_500_500_200_delivers_exactly_once(database: Database, server: FeedServer) -> None:
    endpoint = JsonEndpoint(server, statuses=[500, 500, 500])
    store_alerts(database, ["desk"], 1, T0)
    sender, clock = _sender(database, [endpoint.apprise_url]), Clock(T0)
    waits = []
    for _ in range(3):
        report = sender.send_due(clock)
        assert (report.sent, report.failed) == (0, 1)
        assert sender.send_due(clock).sent == 0  # backing off: not due yet
        (pending,) = AlertStore(database).recent(T0 - timedelta(days=1))
        assert pending.next_attempt_at is not None
        waits.append(pending.next_attempt_at - clock.now)
        clock.now = pending.next_attempt_at
    assert sender.send_due(clock).sent == 1
    for _ in range(3):
        clock.advance(timedelta(hours=7))
        assert sender.send_due(clock, ignore_schedule=True).sent == 0
    assert endpoint.attempts == 4
    assert len(endpoint.received) == 1
    assert endpoint.titles() == ["[newswatch] desk: Story 0"]
    assert waits[0] < waits[1] < waits[2]  # exponential backoff
    (summary,) = AlertStore(database).recent(T0 - timedelta(days=1))
    assert (summary.state, summary.attempts, summary.last_error) == ("sent", 4, None)


def test_dead_letter_after_max_attempts_tells_ops_once(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, statuses=[503] * 10)
    ops_inbox = JsonEndpoint(server, path="/ops")
    ops = OpsNotifier(build_channels([ops_inbox.apprise_url]))
    store_alerts(database, ["desk"], 1, T0)
    sender, clock = _sender(database, [endpoint.apprise_url], max_attempts=3, ops=ops), Clock(T0)
    reports = []
    for _ in range(5):
        reports.append(sender.send_due(clock, ignore_schedule=True))
        clock.advance(timedelta(hours=7))
    assert [(r.failed, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    assert endpoint.attempts == 3
    assert ops.drain(30)  # ops messages go out in their own thread
    assert len(ops_inbox.received) == 1
    assert "dead-lettered" in ops_inbox.titles()[0]
    (summary,) = AlertStore(database).recent(T0 - timedelta(days=1))
    assert (summary.state, summary.attempts) == ("dead", 3)


class HeldSmtp(SmtpInbox):
    """An SMTP server that takes no message until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.to_thread(self.release.wait, 60)
        return await super().handle_DATA(server, session, envelope)


def test_dead_letters_to_an_email_ops_channel_never_hold_up_the_sender(
    database: Database, server: FeedServer
) -> None:
    """A burst of dead letters: each ops email waits for the SMTP server and for
    apprise's 5.5 s email pacing, in the ops channel's own thread. The sender's
    pass returns while the server has taken none of them; all arrive after."""
    endpoint = JsonEndpoint(server, statuses=[503] * 10)
    ops_smtp = HeldSmtp()
    with ops_smtp:
        (channel,) = OpsNotifier.from_urls([ops_smtp.url("ops@example.org")]).channels
        assert channel.pace == timedelta(seconds=5.5)  # apprise's, kept by the ops thread
        assert channel.plugin.request_rate_per_sec == 0  # the plugin itself does not sleep
        ops = OpsNotifier([channel], wait=lambda seconds: None)  # not waiting out the pace
        store_alerts(database, ["desk"], 3, T0)
        sender = _sender(database, [endpoint.apprise_url], max_attempts=1, ops=ops)
        report = sender.send_due(Clock(T0))
        assert report.dead == 3 and ops_smtp.messages == []  # returned while the server waits
        ops_smtp.release.set()
        assert ops.drain(60)
        subjects = [m["Subject"] for m in ops_smtp.wait_for(3)]
    assert subjects == [f"[newswatch ops] alert {i} dead-lettered" for i in (1, 2, 3)]


def test_an_ops_channel_keeps_its_pace_between_two_messages(server: FeedServer) -> None:
    """The ops thread waits the channel's pace between two messages, not before the first."""
    hook = JsonEndpoint(server, path="/ops")
    (built,) = build_channels([hook.apprise_url], sender_paces=True)
    waits: list[float] = []
    clock = iter(float(t) for t in range(100))
    ops = OpsNotifier([replace(built, pace=timedelta(seconds=5.5))], wait=waits.append,
                      clock=lambda: next(clock))
    for i in range(3):
        assert ops.notify(f"feed disabled: {i}", "body")
    assert ops.drain(30)
    assert hook.titles() == [f"[newswatch ops] feed disabled: {i}" for i in range(3)]
    assert waits == [4.5, 4.5]  # 5.5 s after each send, one clock tick later


def test_channel_that_accepted_is_not_sent_to_again(
    database: Database, server: FeedServer
) -> None:
    good = JsonEndpoint(server, path="/good")
    flaky = JsonEndpoint(server, path="/flaky", statuses=[500])
    store_alerts(database, ["desk"], 1, T0)
    sender, clock = _sender(database, [good.apprise_url, flaky.apprise_url]), Clock(T0)
    assert sender.send_due(clock).failed == 1
    clock.advance(timedelta(hours=1))
    assert sender.send_due(clock).sent == 1
    assert (len(good.received), len(flaky.received), flaky.attempts) == (1, 1, 2)


@pytest.mark.parametrize("copies", ["", "&cc=copy@example.org"])
def test_an_email_refused_by_one_recipient_is_retried_to_that_recipient_only(
    database: Database, copies: str
) -> None:
    with SmtpInbox() as inbox:
        inbox.refuse_once = {"two@example.org"}
        store_alerts(database, ["desk"], 1, T0)
        url = inbox.url("one@example.org,two@example.org,three@example.org") + copies
        sender = _sender(database, [url])
        report = sender.send_due(Clock(T0))
        assert (report.sent, report.failed) == (0, 1)
        assert sender.send_due(Clock(T0), ignore_schedule=True).sent == 1  # the retry
        inbox.wait_for(3 if not copies else 6)
        rcpts = sorted(r for _, tos in inbox.envelopes for r in tos)
    expected = ["one@example.org", "three@example.org", "two@example.org"]
    if copies:  # apprise sends each To its own message, the Cc on every one
        expected = sorted(expected + ["copy@example.org"] * 3)
    assert rcpts == expected  # each once: the retry went to the refused one only


def test_a_claimed_alert_is_not_claimed_again_within_its_lease(database: Database) -> None:
    store_alerts(database, ["desk"], 3, T0)
    store = AlertStore(database)
    first = store.claim(T0, limit=2)
    second = store.claim(T0)
    assert len(first) == 2 and len(second) == 1
    assert store.claim(T0 + timedelta(minutes=4)) == []
    assert len(store.claim(T0 + timedelta(minutes=6))) == 3  # the sender died: lease expired


def test_a_pass_ignoring_the_schedule_retries_backoffs_but_leaves_leased_alerts(
    database: Database,
) -> None:
    """`run --once` retries what backs off at once; an alert a worker is sending
    right now (claimed, not yet marked) is not taken a second time."""
    store_alerts(database, ["desk"], 2, T0)
    store = AlertStore(database)
    backing_off, in_flight = store.claim(T0)
    store.mark_failed(backing_off.id, error="503", delivered=[],
                      next_attempt_at=T0 + timedelta(hours=1), max_attempts=5)
    assert [a.id for a in store.claim(T0 + timedelta(seconds=1), ignore_schedule=True)] == [
        backing_off.id]  # not in_flight: still leased to its sender
    assert store.claim(T0 + timedelta(minutes=4), ignore_schedule=True) == []
    store.mark_sent([in_flight.id], T0 + timedelta(minutes=4), [0])
    assert len(store.claim(T0 + timedelta(minutes=6), ignore_schedule=True)) == 1


def test_concurrent_claims_never_share_an_alert(pg_url: str) -> None:
    database = Database.open(pg_url)
    try:
        store_alerts(database, ["desk"], 120, T0)
        store = AlertStore(database)
        results: list[list[int]] = [[] for _ in range(4)]
        start = threading.Barrier(4)

        def claim_all(slot: int) -> None:
            start.wait()
            while batch := store.claim(T0, limit=7):
                results[slot].extend(v.id for v in batch)

        threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        claimed = [i for r in results for i in r]
        assert len(claimed) == 120
        assert len(set(claimed)) == 120
    finally:
        database.close()


def test_retry_after_from_the_plugin_is_a_floor_for_the_backoff() -> None:
    channel = build_channel(0, "discord://123456/abcdefgh")
    now = datetime.now(UTC)
    assert rate_limit_wait(channel.plugin, now) is None
    channel.plugin.ratelimit_remaining = 0.0
    channel.plugin.ratelimit_reset = (now + timedelta(seconds=90)).replace(tzinfo=None)
    wait = rate_limit_wait(channel.plugin, now)
    assert wait is not None and timedelta(seconds=89) < wait <= timedelta(seconds=90)


def test_a_plugin_s_rate_limit_reset_delays_the_next_attempt(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, statuses=[429])
    store_alerts(database, ["desk"], 1, T0)
    sender = _sender(database, [endpoint.apprise_url])
    channel = next(iter(sender._recipients.values())).channels[0]
    channel.plugin.ratelimit_remaining = 0.0  # what a rate-limit-aware plugin records on 429
    channel.plugin.ratelimit_reset = T0 + timedelta(minutes=45)
    assert sender.send_due(Clock(T0)).failed == 1
    (summary,) = AlertStore(database).recent(T0 - timedelta(days=1))
    assert summary.next_attempt_at == T0 + timedelta(minutes=45)  # backoff alone: ~30 s


def test_a_template_failing_at_send_time_fails_that_alert_not_the_sender(
    database: Database, server: FeedServer, tmp_path: Path
) -> None:
    endpoint = JsonEndpoint(server)
    (tmp_path / "alert.markdown.md").write_text("{{ alert.no_such_field }}")
    sub = SubscriptionConfig(id="desk", notify=(endpoint.apprise_url,))
    sender = AlertSender(
        AlertStore(database), {"desk": Recipient(sub, build_channels(sub.notify),
                                                 Renderer(tmp_path))},
        NAMES, AlertSettings(),
    )
    store_alerts(database, ["desk"], 1, T0)
    report = sender.send_due(Clock(T0))
    assert report.failed == 1 and endpoint.attempts == 0
    assert "template: UndefinedError" in report.errors[0]
