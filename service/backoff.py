"""Retry delays: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from datetime import timedelta


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
