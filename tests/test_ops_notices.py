"""Ops notices are kept until their channel took them (``ops_messages``).

A process that stored a notice and died before its ops thread sent it (or
while its channel refused it) leaves it to the next sender pass of any
process, once the claim's lease has ended; two processes handed the same
notice send it once. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from service.config.models import AlertSettings, FeedConfig
from service.notify.channels import build_channels
from service.notify.ops import OpsNotifier
from service.notify.sender import AlertSender
from service.storage import AlertStore, Database, FeedStore
from service.storage.ops_messages import (
    LEASE,
    MAX_ATTEMPTS,
    REROUTE_AFTER,
    OpsMessageRow,
    OpsOutbox,
)
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _disabled_feed(database: Database) -> int:
    feeds = FeedStore(database)
    url = "https://gone.example/feed"
    state = feeds.sync([FeedConfig(url=url)], T0)[url]
    feeds.record_failure(state.id, T0, kind="http", message="HTTP 410", status=410,
                         next_poll_at=None, disable_reason="gone (HTTP 410)")
    return state.id


def _sender(database: Database, ops: OpsNotifier) -> AlertSender:
    return AlertSender(AlertStore(database), {}, {}, AlertSettings(), rng=random.Random(1),
                       ops=ops, ops_outbox=OpsOutbox(database))


def test_a_notice_stored_by_a_process_that_died_is_sent_by_the_next_pass(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, path="/ops")
    feed_id = _disabled_feed(database)
    dead = OpsNotifier(build_channels([endpoint.apprise_url]))
    notice = dead.notice("feed disabled: gone", "Feed gone is disabled.")
    stored = FeedStore(database).claim_ops_notice(feed_id, T0, notice)
    assert stored is not None and len(stored) == 1  # ...and the process died: never handed over
    assert FeedStore(database).claim_ops_notice(feed_id, T0, notice) is None  # decided once

    ops = OpsNotifier(build_channels([endpoint.apprise_url]), utcnow=lambda: T0)
    _sender(database, ops).send_due(lambda: T0)
    assert ops.drain(30)
    assert endpoint.titles() == ["[newswatch ops] feed disabled: gone"]
    _sender(database, ops).send_due(lambda: T0 + timedelta(hours=1))  # sent: not again
    assert ops.drain(30)
    assert len(endpoint.received) == 1


def test_a_refused_notice_is_sent_again_after_its_lease(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, path="/ops", statuses=[503])
    clock = [T0]
    ops = OpsNotifier(build_channels([endpoint.apprise_url]), utcnow=lambda: clock[0])
    notice = ops.notice("feed disabled: gone", "Feed gone is disabled.")
    stored = FeedStore(database).claim_ops_notice(_disabled_feed(database), T0, notice)
    assert stored is not None
    ops.tell(OpsOutbox(database), notice, stored)
    assert ops.drain(30)
    assert (endpoint.attempts, endpoint.received) == (1, [])  # refused: kept
    sender = _sender(database, ops)
    sender.send_due(lambda: T0 + LEASE / 2)  # still leased to the attempt that failed
    assert ops.drain(30)
    assert endpoint.attempts == 1
    clock[0] = T0 + LEASE
    sender.send_due(lambda: clock[0])
    assert ops.drain(30)
    assert (endpoint.attempts, len(endpoint.received)) == (2, 1)


def test_two_processes_handed_one_notice_send_it_once(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, path="/ops")
    first = OpsNotifier(build_channels([endpoint.apprise_url]), utcnow=lambda: T0)
    second = OpsNotifier(build_channels([endpoint.apprise_url]), utcnow=lambda: T0)
    notice = first.notice("feed disabled: gone", "Feed gone is disabled.")
    stored = FeedStore(database).claim_ops_notice(_disabled_feed(database), T0, notice)
    assert stored is not None
    first.tell(OpsOutbox(database), notice, stored)
    assert second.resume(OpsOutbox(database), T0) in (0, 1)  # taken already, or not yet
    assert first.drain(30) and second.drain(30)
    assert len(endpoint.received) == 1


def test_without_an_ops_channel_a_dead_letter_is_only_logged(database: Database) -> None:
    from service.storage.dead_letters import DeadLetterStore

    _disabled_feed(database)  # a feed row for nothing: dead letters need no article here
    ops = OpsNotifier(())
    letters = DeadLetterStore(database)
    stored = letters.dead_letter_article(1, error="boom", attempts=5, now=T0,
                                         notice=ops.notice("article dead-lettered", "boom"))
    assert stored is not None
    letter, notices = stored
    assert notices == [] and letter.notified_at == T0  # told the log: nothing kept


def test_a_refused_reload_is_kept_until_its_channel_takes_it(
    database: Database, server: FeedServer
) -> None:
    endpoint = JsonEndpoint(server, path="/ops", statuses=[503])
    clock = [T0]
    ops = OpsNotifier(build_channels([endpoint.apprise_url]), utcnow=lambda: clock[0])
    ops.report(OpsOutbox(database), "configuration change refused",
               "bad.yaml:1: entities[0].colour: unknown key", T0)
    assert ops.drain(30)
    assert (endpoint.attempts, endpoint.received) == (1, [])  # refused: kept, not lost
    (kept,) = OpsOutbox(database).unsent([ops.channels[0].key], T0 + LEASE)
    assert kept.subject == "[newswatch ops] configuration change refused"
    clock[0] = T0 + LEASE  # a later pass of any process (or after a restart) sends it
    _sender(database, ops).send_due(lambda: clock[0])
    assert ops.drain(30)
    assert [m["title"] for m in endpoint.received] == [kept.subject]
    assert "colour" in endpoint.received[0]["message"]


def _stored_for(database: Database, urls: list[str], subject: str) -> None:
    """A notice stored for the channels ``urls`` (by a process configured so)."""
    then = OpsNotifier(build_channels(urls))
    OpsOutbox(database).add(then.notice(subject, "Feed gone is disabled."), T0)


def test_a_notice_of_a_removed_channel_goes_to_the_channels_configured_now(
    database: Database, server: FeedServer
) -> None:
    removed = JsonEndpoint(server, path="/old-ops")
    now_a, now_b = JsonEndpoint(server, path="/ops-a"), JsonEndpoint(server, path="/ops-b")
    _stored_for(database, [removed.apprise_url], "feed disabled: gone")
    ops = OpsNotifier(build_channels([now_a.apprise_url, now_b.apprise_url]))
    sender = _sender(database, ops)
    sender.send_due(lambda: T0 + timedelta(minutes=1))  # maybe a process a moment behind
    assert ops.drain(30)
    assert (now_a.attempts, now_b.attempts) == (0, 0)
    sender.send_due(lambda: T0 + REROUTE_AFTER)
    assert ops.drain(30)
    subject = "[newswatch ops] feed disabled: gone"
    assert ([m["title"] for m in now_a.received], [m["title"] for m in now_b.received]) == (
        [subject], [subject])
    sender.send_due(lambda: T0 + 2 * REROUTE_AFTER)  # sent: never again
    assert ops.drain(30)
    assert (len(now_a.received), len(now_b.received), removed.attempts) == (1, 1, 0)


def test_a_removed_channels_copy_is_dropped_when_the_others_have_the_notice(
    database: Database, server: FeedServer
) -> None:
    removed, kept = JsonEndpoint(server, path="/old-ops"), JsonEndpoint(server, path="/ops")
    _stored_for(database, [removed.apprise_url, kept.apprise_url], "feed disabled: gone")
    ops = OpsNotifier(build_channels([kept.apprise_url]))
    _sender(database, ops).send_due(lambda: T0 + REROUTE_AFTER)
    assert ops.drain(30)
    assert (len(kept.received), removed.attempts) == (1, 0)
    keys = [c.key for c in build_channels([removed.apprise_url, kept.apprise_url])]
    assert OpsOutbox(database).unsent(keys, T0 + 2 * REROUTE_AFTER) == []


def test_a_notice_its_removed_channel_gave_up_on_still_reaches_the_configured_one(
    database: Database, server: FeedServer
) -> None:
    removed, configured = JsonEndpoint(server, path="/old-ops"), JsonEndpoint(server, path="/ops")
    _stored_for(database, [removed.apprise_url], "feed disabled: gone")
    with database.session() as session, session.begin():  # its five tries all refused
        session.execute(update(OpsMessageRow).values(attempts=MAX_ATTEMPTS))
    ops = OpsNotifier(build_channels([configured.apprise_url]))
    _sender(database, ops).send_due(lambda: T0 + REROUTE_AFTER)
    assert ops.drain(30)
    assert [m["title"] for m in configured.received] == ["[newswatch ops] feed disabled: gone"]
