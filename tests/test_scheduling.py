"""Pure poll scheduling: intervals, server hints, backoff, disabling, the poll queue.

Time is passed in and the jitter comes from a seeded generator: no sleeping.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from service.poller.queue import PollQueue
from service.scheduling import (
    MAX_DELAY,
    FailureDecision,
    IntervalPolicy,
    ServerHints,
    after_failure,
    feed_interval,
    fresh_until,
    http_date,
    max_age,
    next_poll_after_success,
    publishing_interval,
    retry_after_at,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = IntervalPolicy(default=timedelta(minutes=15))
HOUR = timedelta(hours=1)


def rng() -> random.Random:
    return random.Random(7)


def hourly(count: int, newest: datetime = NOW) -> list[datetime | None]:
    return [newest - i * HOUR for i in range(count)]


# --- the interval in force ---------------------------------------------------------


def test_configured_interval_wins_over_learned_and_default() -> None:
    assert feed_interval(timedelta(minutes=5), 3 * HOUR, POLICY) == timedelta(minutes=5)
    assert feed_interval(None, 3 * HOUR, POLICY) == 3 * HOUR
    assert feed_interval(None, None, POLICY) == timedelta(minutes=15)


def test_learned_interval_is_ignored_when_adaptive_is_off() -> None:
    policy = IntervalPolicy(default=timedelta(minutes=15), adaptive=False)

    assert feed_interval(None, 3 * HOUR, policy) == timedelta(minutes=15)


def test_hourly_feed_is_polled_every_half_hour() -> None:
    assert publishing_interval(hourly(10), NOW, POLICY) == timedelta(minutes=30)


def test_busy_feed_is_clamped_to_the_minimum() -> None:
    dates = [NOW - i * timedelta(seconds=30) for i in range(20)]

    assert publishing_interval(dates, NOW, POLICY) == timedelta(minutes=5)


def test_quiet_feed_slows_down_with_its_silence_up_to_a_day() -> None:
    went_quiet = publishing_interval(hourly(10, NOW - 8 * HOUR), NOW, POLICY)
    dead = publishing_interval(hourly(10, NOW - timedelta(days=90)), NOW, POLICY)

    assert went_quiet == 2 * HOUR
    assert dead == timedelta(hours=24)


def test_rate_is_unknown_without_two_distinct_dates() -> None:
    assert publishing_interval([None, None, NOW], NOW, POLICY) is None
    assert publishing_interval([NOW, NOW, NOW], NOW, POLICY) is None


def test_dates_far_in_the_future_are_ignored() -> None:
    dates = [*hourly(5), NOW + timedelta(days=400)]

    assert publishing_interval(dates, NOW, POLICY) == timedelta(minutes=30)


# --- server hints -------------------------------------------------------------------


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert retry_after_at("120", NOW) == NOW + timedelta(minutes=2)
    assert retry_after_at("Sat, 01 Mar 2025 13:00:00 GMT", NOW) == NOW + HOUR


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "Sat, 01 Mar 2025 11:00:00 GMT"])
def test_useless_retry_after_is_ignored(value: str | None) -> None:
    assert retry_after_at(value, NOW) is None


def test_retry_after_is_capped_at_a_day() -> None:
    assert retry_after_at(str(10 * 86400), NOW) == NOW + MAX_DELAY


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("max-age=600", timedelta(minutes=10)),
        ("public, MAX-AGE=\"60\", must-revalidate", timedelta(minutes=1)),
        ("no-cache", None),
        ("max-age=lots", None),
        (None, None),
    ],
)
def test_max_age(header: str | None, expected: timedelta | None) -> None:
    assert max_age(header) == expected


def test_max_age_wins_over_expires_and_both_are_capped() -> None:
    expires = "Sat, 01 Mar 2025 18:00:00 GMT"

    assert fresh_until(ServerHints(cache_control="max-age=60", expires=expires), NOW) == (
        NOW + timedelta(minutes=1))
    assert fresh_until(ServerHints(expires=expires), NOW) == NOW + 6 * HOUR
    assert fresh_until(ServerHints(cache_control="max-age=9999999"), NOW) == NOW + MAX_DELAY
    assert fresh_until(ServerHints(expires="0"), NOW) is None


def test_http_date_reads_rfc_dates_only() -> None:
    assert http_date("Sat, 01 Mar 2025 12:00:00 GMT") == NOW
    assert http_date("yesterday") is None


# --- after a success ----------------------------------------------------------------


def test_next_poll_is_one_interval_later_with_at_most_ten_percent_jitter() -> None:
    generator = rng()
    polls = [next_poll_after_success(NOW, HOUR, ServerHints(), generator) for _ in range(200)]

    assert all(NOW + 0.9 * HOUR <= p <= NOW + 1.1 * HOUR for p in polls)
    assert len(set(polls)) > 100  # spread out, not one instant


def test_cache_control_pushes_the_next_poll_later_but_not_earlier() -> None:
    later = next_poll_after_success(NOW, HOUR, ServerHints(cache_control="max-age=7200"), rng())
    earlier = next_poll_after_success(NOW, HOUR, ServerHints(cache_control="max-age=60"), rng())

    assert later == NOW + 2 * HOUR
    assert NOW + 0.9 * HOUR <= earlier <= NOW + 1.1 * HOUR


# --- after a failure ----------------------------------------------------------------


def fail(failures_before: int, *, status: int | None = None, retry_after: str | None = None,
         interval: timedelta = timedelta(minutes=15)) -> FailureDecision:
    return after_failure(NOW, failures_before=failures_before, interval=interval, status=status,
                         hints=ServerHints(retry_after=retry_after), disable_after=10, rng=rng())


def retry_in(decision: FailureDecision) -> timedelta:
    assert decision.next_poll_at is not None
    return decision.next_poll_at - NOW


def test_backoff_doubles_with_jitter_and_is_capped_at_a_day() -> None:
    delays = [retry_in(fail(n)) for n in range(9)]

    for n, delay in enumerate(delays):
        ceiling = min(timedelta(minutes=15) * 2**n, MAX_DELAY)
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] > timedelta(hours=12)


def test_retry_after_is_honoured_on_429_and_503_only() -> None:
    assert fail(0, status=429, retry_after="3600").next_poll_at == NOW + HOUR
    assert fail(0, status=503, retry_after="3600").next_poll_at == NOW + HOUR
    assert retry_in(fail(0, status=500, retry_after="3600")) < HOUR


def test_the_tenth_consecutive_failure_disables() -> None:
    ninth, tenth = fail(8), fail(9)

    assert not ninth.disabled and ninth.consecutive_failures == 9
    assert tenth.disabled and tenth.next_poll_at is None
    assert tenth.disable_reason == "10 consecutive failures"


def test_410_gone_disables_at_once() -> None:
    decision = fail(0, status=410)

    assert decision.disabled and "410" in (decision.disable_reason or "")


# --- the poll queue -------------------------------------------------------------------


def test_queue_starts_due_feeds_in_time_order_within_the_limit() -> None:
    queue = PollQueue(limit=2)
    queue.schedule("c", NOW - timedelta(seconds=1))
    queue.schedule("a", NOW - HOUR)
    queue.schedule("b", NOW - timedelta(minutes=1))
    queue.schedule("later", NOW + HOUR)

    assert queue.take_due(NOW) == ["a", "b"]
    assert queue.next_due() is None  # full: only a finished poll frees a slot
    queue.finished("a", NOW + 2 * HOUR)
    assert queue.take_due(NOW) == ["c"]
    queue.finished("b", None)  # disabled: dropped
    queue.finished("c", NOW + 3 * HOUR)
    assert queue.take_due(NOW) == []
    assert queue.next_due() == NOW + HOUR
    assert queue.take_due(NOW + 2 * HOUR) == ["later", "a"]
    assert len(queue) == 3


def test_queue_never_runs_one_feed_twice_at_once() -> None:
    queue = PollQueue(limit=10)
    queue.schedule("a", NOW)
    queue.schedule("a", NOW)

    assert queue.take_due(NOW) == ["a"]
    assert queue.running == 1
