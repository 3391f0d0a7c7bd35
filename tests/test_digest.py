"""Digests, quiet hours and the hourly cap: the clock is passed in, nothing sleeps.

The schedule functions are pure; the flows run the real sender against a
local json:// endpoint on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from service.config.models import AlertSettings, DigestConfig, QuietHoursConfig, SubscriptionConfig
from service.notify.channels import build_channels
from service.notify.schedule import next_digest, quiet_until, route_instant
from service.notify.sender import AlertSender, Recipient
from service.storage import AlertStore, Database
from tests.clock import Clock
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, store_alerts

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


NIGHT = QuietHoursConfig(start=time(22), end=time(7), timezone="Europe/Paris")


def test_overnight_quiet_hours_end_the_next_morning_in_their_timezone() -> None:
    assert quiet_until(NIGHT, paris(27, 21, 59)) is None
    assert quiet_until(NIGHT, paris(27, 22, 0)) == paris(28, 7)
    assert quiet_until(NIGHT, paris(28, 6, 59)) == paris(28, 7)
    assert quiet_until(NIGHT, paris(28, 7, 0)) is None


def test_daytime_quiet_hours() -> None:
    lunch = QuietHoursConfig(start=time(12), end=time(13, 30))
    assert quiet_until(lunch, T0 + timedelta(minutes=10)) == T0 + timedelta(hours=1, minutes=30)
    assert quiet_until(lunch, T0 - timedelta(minutes=1)) is None


def test_digest_at_a_time_of_day_in_a_timezone() -> None:
    morning = DigestConfig(at=time(8), timezone="Europe/Paris")
    assert next_digest(morning, paris(27, 9), None) == paris(28, 8)
    assert next_digest(morning, paris(28, 1), None) == paris(28, 8)
    assert next_digest(morning, paris(27, 7), paris(27, 8)) == paris(28, 8)  # already sent


def test_digest_every_period() -> None:
    hourly = DigestConfig(every=timedelta(hours=1))
    assert next_digest(hourly, T0, None) == T0 + timedelta(hours=1)
    assert next_digest(hourly, T0, T0 - timedelta(minutes=10)) == T0 + timedelta(minutes=50)


def test_hourly_cap_overflows_into_the_digest_and_digest_mode_always_does() -> None:
    capped = SubscriptionConfig(id="s", notify=("console://",), max_per_hour=2)
    assert route_instant(capped, T0, 1).route == "send"
    assert route_instant(capped, T0, 2).route == "digest"
    digest = SubscriptionConfig(id="s", notify=("console://",), mode="digest",
                                digest={"every": "1h"})  # type: ignore[arg-type]
    assert route_instant(digest, T0, 0).route == "digest"


def test_subscription_delivery_options_are_validated() -> None:
    with pytest.raises(ValidationError, match="unknown timezone"):
        SubscriptionConfig(id="s", notify=("console://",),
                           digest={"at": "08:00", "timezone": "Europe/Atlantis"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="either every"):
        SubscriptionConfig(id="s", notify=("console://",), digest={})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="needs a digest schedule"):
        SubscriptionConfig(id="s", notify=("console://",), mode="digest")
    with pytest.raises(ValidationError, match="not a time of day"):
        QuietHoursConfig(start="25:00", end="07:00")  # type: ignore[arg-type]
    # YAML 1.1 reads an unquoted 22:00 as the number 1320
    assert QuietHoursConfig(start=1320, end=420).start == time(22)  # type: ignore[arg-type]


@pytest.fixture
def endpoint() -> Iterator[JsonEndpoint]:
    with FeedServer() as server:
        yield JsonEndpoint(server)


def _sender(database: Database, endpoint: JsonEndpoint, **options: object) -> AlertSender:
    sub = SubscriptionConfig(id="desk", notify=(endpoint.apprise_url,), **options)  # type: ignore[arg-type]
    return AlertSender(AlertStore(database), {"desk": Recipient(sub, build_channels(sub.notify))},
                       {}, AlertSettings())


def test_digest_mode_sends_one_message_per_period(
    database: Database, endpoint: JsonEndpoint
) -> None:
    sender = _sender(database, endpoint, mode="digest", digest={"every": "1h"})
    store_alerts(database, ["desk"], 3, T0)
    clock = Clock(T0)
    assert sender.send_due(clock).digested == 3
    clock.now = T0 + timedelta(minutes=59)
    assert sender.send_due(clock).digests == 0 and endpoint.received == []
    clock.now = T0 + timedelta(hours=1)
    report = sender.send_due(clock)
    assert (report.digests, report.sent) == (1, 3)
    assert endpoint.titles() == ["[newswatch] desk: 3 new stories"]
    body = str(endpoint.received[0]["message"])
    assert all(f"Story {i}" in body for i in range(3))
    store_alerts(database, ["desk"], 1, T0 + timedelta(hours=1, minutes=5))
    clock.now = T0 + timedelta(hours=1, minutes=30)
    assert sender.send_due(clock).digests == 0  # one digest per hour
    clock.now = T0 + timedelta(hours=2)
    assert sender.send_due(clock).digests == 1
    assert endpoint.titles()[-1] == "[newswatch] desk: 1 new story"
    assert {s.delivery for s in AlertStore(database).recent(T0)} == {"sent"}


def test_quiet_hours_hold_alerts_until_they_end(
    database: Database, endpoint: JsonEndpoint
) -> None:
    sender = _sender(database, endpoint, quiet_hours=NIGHT.model_dump())
    store_alerts(database, ["desk"], 2, paris(27, 23))
    clock = Clock(paris(27, 23))
    assert sender.send_due(clock).held == 2
    clock.now = paris(28, 6, 59)
    assert sender.send_due(clock).sent == 0
    assert sender.send_due(clock, ignore_schedule=True).held == 2  # run --once respects them too
    assert endpoint.received == []
    clock.now = paris(28, 7)
    assert sender.send_due(clock).sent == 2
    assert len(endpoint.received) == 2


def test_max_per_hour_overflow_goes_into_the_next_digest_not_dropped(
    database: Database, endpoint: JsonEndpoint
) -> None:
    sender = _sender(database, endpoint, max_per_hour=2)
    store_alerts(database, ["desk"], 5, T0)
    clock = Clock(T0)
    report = sender.send_due(clock)
    assert (report.sent, report.digested) == (2, 3)
    assert [s.delivery for s in AlertStore(database).recent(T0)].count("pending (next digest)") == 3
    clock.now = T0 + timedelta(hours=1)
    assert sender.send_due(clock).digests == 1
    assert len(endpoint.received) == 3  # 2 alone, 3 in one digest
    assert endpoint.titles()[-1] == "[newswatch] desk: 3 new stories"
