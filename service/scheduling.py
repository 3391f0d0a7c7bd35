"""When to poll a feed next, and when to give up on it: pure decisions.

The poller's I/O (fetch, parse, store) lives in ``service.polling``; this
module only turns what a poll observed into what to do next, so every rule is
tested with a clock and a seeded random generator passed in:

    interval    the feed's ``interval``, else adaptive from its publishing
                rate (clamped to ``poll.min_interval``..``poll.max_interval``),
                else ``poll.default_interval`` until the rate is known
    success     next poll one interval later, jittered by up to 10%, but not
                before the server's ``Cache-Control: max-age`` / ``Expires``
                (a server cannot push a poll more than 24 h away)
    failure     exponential backoff with jitter from the interval (cap 24 h),
                not before ``Retry-After`` on 429/503 (capped at 24 h too);
                after ``poll.disable_after`` consecutive failures, or at once
                on HTTP 410 Gone, the feed is disabled
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from service.backoff import retry_delay

MAX_DELAY = timedelta(hours=24)  # no header and no backoff pushes a poll further away
JITTER = 0.1
RATE_SAMPLE = 20  # the most recent dated entries that estimate the publishing rate
_RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class IntervalPolicy:
    """How a feed's interval is chosen (from ``poll`` settings)."""

    default: timedelta
    minimum: timedelta = timedelta(minutes=5)
    maximum: timedelta = timedelta(hours=24)
    adaptive: bool = True


@dataclass(frozen=True, slots=True)
class ServerHints:
    """What the server said about when to come back (raw header values)."""

    retry_after: str | None = None
    cache_control: str | None = None
    expires: str | None = None


@dataclass(frozen=True, slots=True)
class FailureDecision:
    """What to do after a failed poll: when to retry, or why to disable."""

    consecutive_failures: int
    next_poll_at: datetime | None
    disable_reason: str | None

    @property
    def disabled(self) -> bool:
        return self.disable_reason is not None


# --- intervals -------------------------------------------------------------------


def feed_interval(
    configured: timedelta | None, learned: timedelta | None, policy: IntervalPolicy
) -> timedelta:
    """The interval in force: configured, else learned (when adaptive), else default."""
    if configured is not None:
        return configured
    if policy.adaptive and learned is not None:
        return learned
    return policy.default


def publishing_interval(
    published: Iterable[datetime | None], now: datetime, policy: IntervalPolicy
) -> timedelta | None:
    """An interval from the entries' dates: about two polls per new entry.

    The mean gap between the most recent dated entries is halved; a feed
    quiet for longer than its usual gap is polled less often (a quarter of
    its silence). None when fewer than two distinct dates are known.
    """
    latest = now + timedelta(days=1)  # later dates are wrong clocks or typos
    dates = sorted(d for d in published if d is not None and d <= latest)
    # distinct dates, in order (no set: hashing an aware datetime asks its offset)
    dates = [d for i, d in enumerate(dates) if i == 0 or d != dates[i - 1]]
    recent = dates[-RATE_SAMPLE:]
    if len(recent) < 2:
        return None
    gap = (recent[-1] - recent[0]) / (len(recent) - 1)
    silence = max(now - recent[-1], timedelta(0))
    return clamp(max(gap / 2, silence / 4), policy.minimum, policy.maximum)


def clamp(value: timedelta, low: timedelta, high: timedelta) -> timedelta:
    return max(low, min(value, high))


def jittered(interval: timedelta, rng: random.Random) -> timedelta:
    """``interval`` spread by up to ``JITTER`` either way, so polls do not bunch up."""
    return interval * rng.uniform(1 - JITTER, 1 + JITTER)


# --- server hints ----------------------------------------------------------------


def http_date(value: str | None) -> datetime | None:
    """An HTTP date (RFC 9110) as aware UTC, or None when it is not one."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def retry_after_at(value: str | None, now: datetime) -> datetime | None:
    """``Retry-After`` (seconds or an HTTP date) as a time, capped at a day ahead."""
    if not value:
        return None
    text = value.strip()
    # an absurd number of seconds is capped below, not an OverflowError
    when = now + timedelta(seconds=min(int(text), 10**9)) if text.isdigit() else http_date(text)
    return _capped(when, now)


def max_age(cache_control: str | None) -> timedelta | None:
    """``max-age`` of a Cache-Control header; None when absent or malformed."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            seconds = value.strip().strip('"')
            return timedelta(seconds=int(seconds)) if seconds.isdigit() else None
    return None


def fresh_until(hints: ServerHints, now: datetime) -> datetime | None:
    """Until when the server says its answer is fresh (max-age, else Expires), capped."""
    age = max_age(hints.cache_control)
    when = now + age if age is not None else http_date(hints.expires)
    return _capped(when, now)


def _capped(when: datetime | None, now: datetime) -> datetime | None:
    if when is None or when <= now:
        return None
    return min(when, now + MAX_DELAY)


# --- decisions -------------------------------------------------------------------


def next_poll_after_success(
    now: datetime, interval: timedelta, hints: ServerHints, rng: random.Random
) -> datetime:
    """One jittered interval later, but not before the answer goes stale."""
    planned = now + min(jittered(interval, rng), MAX_DELAY)
    fresh = fresh_until(hints, now)
    return max(planned, fresh) if fresh is not None else planned


def after_failure(
    now: datetime,
    *,
    failures_before: int,
    interval: timedelta,
    status: int | None,
    hints: ServerHints,
    disable_after: int,
    rng: random.Random,
) -> FailureDecision:
    """Back off (honouring Retry-After on 429/503), or disable the feed."""
    failures = failures_before + 1
    reason = disable_reason(failures, status, disable_after)
    if reason is not None:
        return FailureDecision(failures, None, reason)
    planned = now + retry_delay(failures, base=interval, cap=MAX_DELAY, rng=rng)
    asked = retry_after_at(hints.retry_after, now) if status in _RETRY_AFTER_STATUSES else None
    return FailureDecision(failures, max(planned, asked) if asked else planned, None)


def disable_reason(failures: int, status: int | None, disable_after: int) -> str | None:
    """Why a feed is disabled now, or None: gone (410), or too many failures in a row."""
    if status == 410:
        return "the server says the feed is gone (HTTP 410)"
    if failures >= disable_after:
        return f"{failures} consecutive failures"
    return None
