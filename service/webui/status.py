"""What the status page and the API show: read models over storage, as frozen values.

Feeds come failing first by default (disabled, then failing, then never polled,
then healthy); stories carry their outlets and the subscriptions they alerted;
alerts their delivery state. ``StatusSource`` only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select

from service.storage.alerts import AlertStore
from service.storage.database import Database
from service.storage.feeds import FeedStore
from service.storage.models import AlertRow, FeedRow
from service.storage.records import FeedFailure
from service.storage.stories import StoryIndexStore
from service.storage.websub import WebSubStore
from service.urls import shown_url

FeedHealth = Literal["disabled", "failing", "new", "ok"]
FeedSort = Literal["status", "name", "last_success", "next_poll", "failures"]
FEED_SORTS: tuple[str, ...] = ("status", "name", "last_success", "next_poll", "failures")
_HEALTH_ORDER = {"disabled": 0, "failing": 1, "new": 2, "ok": 3}


@dataclass(frozen=True, slots=True)
class FeedStatus:
    url: str
    name: str
    health: FeedHealth
    enabled: bool
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error_kind: str | None
    last_error: str | None
    next_poll_at: datetime | None
    consecutive_failures: int
    disabled_reason: str | None
    websub: str | None = None  # the hub subscription's state: pending, active, denied


@dataclass(frozen=True, slots=True)
class StoryStatus:
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    article_count: int
    outlets: tuple[str, ...]
    subscriptions: tuple[str, ...]  # the subscriptions it alerted


@dataclass(frozen=True, slots=True)
class AlertStatus:
    id: int
    subscription_id: str
    delivery: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    title: str
    source: str


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the running service knows about itself."""

    version: str
    config_version: str
    last_reload_error: str | None


def health(enabled: bool, failures: int, last_polled_at: datetime | None) -> FeedHealth:
    if not enabled:
        return "disabled"
    if failures > 0:
        return "failing"
    return "new" if last_polled_at is None else "ok"


def sort_feeds(feeds: Iterable[FeedStatus], sort: str = "status") -> list[FeedStatus]:
    """Feeds in the order asked for; ``status`` (the default) puts failing ones first."""
    far = datetime.max.replace(tzinfo=None)

    def when(value: datetime | None) -> datetime:
        return value.replace(tzinfo=None) if value is not None else far

    keys: dict[str, Callable[[FeedStatus], object]] = {
        "status": lambda f: (_HEALTH_ORDER[f.health], -f.consecutive_failures, f.name.lower()),
        "name": lambda f: f.name.lower(),
        "last_success": lambda f: (when(f.last_success_at), f.name.lower()),
        "next_poll": lambda f: (when(f.next_poll_at), f.name.lower()),
        "failures": lambda f: (-f.consecutive_failures, f.name.lower()),
    }
    return sorted(feeds, key=keys.get(sort, keys["status"]))  # type: ignore[arg-type]


_FEED_COLUMNS = (
    FeedRow.url, FeedRow.name, FeedRow.title, FeedRow.enabled, FeedRow.last_polled_at,
    FeedRow.last_success_at, FeedRow.last_error_kind, FeedRow.last_error, FeedRow.next_poll_at,
    FeedRow.consecutive_failures, FeedRow.disabled_reason,
)


def _feed_row(row: Any, hubs: dict[str, str]) -> FeedStatus:
    """A feed's status straight from its columns (no ORM objects: 10,000 feeds stay fast)."""
    (url, name, title, enabled, polled, success, kind, error, next_poll, failures,
     reason) = row
    return FeedStatus(
        url=url, name=name or title or shown_url(url), health=health(enabled, failures, polled),
        enabled=enabled,
        last_polled_at=polled, last_success_at=success, last_error_kind=kind, last_error=error,
        next_poll_at=next_poll, consecutive_failures=failures, disabled_reason=reason,
        websub=hubs.get(url),
    )


class StatusSource:
    """Reads the status of one service: its database and what it knows of itself."""

    def __init__(self, database: Database, runtime: Callable[[], Runtime]) -> None:
        self.database = database
        self.runtime = runtime

    def feeds(self, sort: str = "status") -> list[FeedStatus]:
        hubs = {sub.feed_url: sub.state for sub in WebSubStore(self.database).all()}
        with self.database.session() as session:
            rows = session.execute(select(*_FEED_COLUMNS)).all()
        return sort_feeds((_feed_row(row, hubs) for row in rows), sort)

    def feed_failures(self, url: str, limit: int) -> list[FeedFailure] | None:
        """A feed's failure history, newest first; None for a feed never configured."""
        store = FeedStore(self.database)
        if store.state(url) is None:
            return None
        return store.failures(url, limit)

    def stories(self, since: datetime, limit: int = 50) -> list[StoryStatus]:
        stories = StoryIndexStore(self.database).recent(since, limit=limit)
        alerted = self._alerted([s.id for s in stories])
        return [
            StoryStatus(id=s.id, title=s.title, created_at=s.created_at, updated_at=s.updated_at,
                        article_count=s.article_count, outlets=s.outlets,
                        subscriptions=tuple(sorted(alerted.get(s.id, ()))))
            for s in stories
        ]

    def _alerted(self, story_ids: list[int]) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        if not story_ids:
            return found
        with self.database.session() as session:
            query = select(AlertRow.story_id, AlertRow.subscription_id).where(
                AlertRow.story_id.in_(story_ids))
            for story_id, subscription_id in session.execute(query):
                found.setdefault(story_id, set()).add(subscription_id)
        return found

    def alerts(self, since: datetime, limit: int = 100) -> list[AlertStatus]:
        return [
            AlertStatus(id=a.id, subscription_id=a.subscription_id, delivery=a.delivery,
                        attempts=a.attempts, created_at=a.created_at, sent_at=a.sent_at,
                        last_error=a.last_error, title=a.title, source=a.source)
            for a in AlertStore(self.database).recent(since, limit=limit)
        ]
