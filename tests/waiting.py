"""Waiting for a condition another process or thread brings about.

Where the product gives no event to wait on (a row another process commits,
a counter behind an HTTP endpoint, a socket the server closes), tests poll
the condition itself until a deadline that is reached only when something is
broken; the pause between two looks is the only sleep, and it lives here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

LOOK_EVERY = 0.01  # seconds between two looks at the condition


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Return once ``condition()`` is true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(LOOK_EVERY)


async def async_wait_until(
    condition: Callable[[], object], what: str, timeout: float = 30.0
) -> None:
    """:func:`wait_until` inside an event loop: the loop runs on between two looks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(LOOK_EVERY)
