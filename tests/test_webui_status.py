"""The status read models: feed health words and the orders of the feeds table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.webui.status import FEED_SORTS, FeedStatus, health, sort_feeds

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _feed(name: str, **changes: object) -> FeedStatus:
    base = FeedStatus(url=f"https://x.example/{name}", name=name, health="ok", enabled=True,
                      last_polled_at=NOW, last_success_at=NOW, last_error_kind=None,
                      last_error=None, next_poll_at=NOW, consecutive_failures=0,
                      disabled_reason=None)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_health_words() -> None:
    assert health(False, 0, NOW) == "disabled"
    assert health(False, 5, NOW) == "disabled"
    assert health(True, 1, NOW) == "failing"
    assert health(True, 0, None) == "new"
    assert health(True, 0, NOW) == "ok"


FEEDS = [
    _feed("alpha"),
    _feed("Bravo", health="failing", consecutive_failures=2,
          last_success_at=NOW - timedelta(days=1)),
    _feed("charlie", health="disabled", enabled=False, consecutive_failures=10,
          next_poll_at=None),
    _feed("delta", health="failing", consecutive_failures=5, last_success_at=None),
    _feed("echo", health="new", last_polled_at=None, last_success_at=None,
          next_poll_at=NOW - timedelta(minutes=1)),
]


@pytest.mark.parametrize(("sort", "expected"), [
    ("status", ["charlie", "delta", "Bravo", "echo", "alpha"]),
    ("name", ["alpha", "Bravo", "charlie", "delta", "echo"]),
    ("last_success", ["Bravo", "alpha", "charlie", "delta", "echo"]),
    ("next_poll", ["echo", "alpha", "Bravo", "delta", "charlie"]),
    ("failures", ["charlie", "delta", "Bravo", "alpha", "echo"]),
])
def test_feed_orders(sort: str, expected: list[str]) -> None:
    assert sort in FEED_SORTS
    assert [f.name for f in sort_feeds(FEEDS, sort)] == expected
