"""The poll schedule of one poller process: which feeds are due, in time order.

Pure (time is passed in): a heap of (due time, URL) and the set of feeds
being polled, started at most ``limit`` at a time. It keeps no feed state,
so 100,000 registered feeds cost a heap entry each; the state of a feed is
read from storage when its poll starts.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime


class PollQueue:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._heap: list[tuple[datetime, int, str]] = []
        self._order = itertools.count()  # ties keep insertion order
        self._running: set[str] = set()

    def set_limit(self, limit: int) -> None:
        """A new ``fetch.concurrency`` (a reload): polls running over it finish."""
        self._limit = limit

    def schedule(self, url: str, due: datetime) -> None:
        heapq.heappush(self._heap, (due, next(self._order), url))

    def take_due(self, now: datetime) -> list[str]:
        """The feeds to start now: due, not running, within the limit."""
        started: list[str] = []
        while self._heap and self._heap[0][0] <= now and len(self._running) < self._limit:
            _, _, url = heapq.heappop(self._heap)
            if url not in self._running:
                self._running.add(url)
                started.append(url)
        return started

    def finished(self, url: str, next_due: datetime | None) -> None:
        """A poll ended; ``next_due`` None drops the feed (it is disabled)."""
        self._running.discard(url)
        if next_due is not None:
            self.schedule(url, next_due)

    def next_due(self) -> datetime | None:
        """When the earliest waiting feed falls due (None: nothing waits, or the
        limit is reached and only a finished poll can start another)."""
        if not self._heap or len(self._running) >= self._limit:
            return None
        return self._heap[0][0]

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def running(self) -> int:
        return len(self._running)

    def __len__(self) -> int:
        return len(self._heap) + len(self._running)
