"""Retry delays: exponential backoff with full jitter, capped; what Retry-After asks for."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def retry_delay(
    attempts: int,
    *,
    base: timedelta = timedelta(seconds=30),
    cap: timedelta = timedelta(hours=6),
    rng: random.Random | None = None,
) -> timedelta:
    """Delay before the next try after ``attempts`` failures (>= 1).

    The ceiling doubles with each failure up to ``cap``; the delay is drawn
    uniformly from [ceiling/2, ceiling] so that retries of many failures
    spread out instead of arriving together.
    """
    ceiling = min(base.total_seconds() * 2 ** max(attempts - 1, 0), cap.total_seconds())
    draw = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling * draw)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """The wait an HTTP ``Retry-After`` header asks for (RFC 9110 §10.2.3), or None.

    Either delay-seconds (``120``) or an HTTP-date, read against ``now``; a
    date in the past or a value that is neither asks for nothing.
    """
    if value is None or not (text := value.strip()):
        return None
    if text.isdigit():
        return timedelta(seconds=min(int(text), 10**9))  # absurd values: capped by the caller
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    wait = when - now
    return wait if wait > timedelta(0) else None
