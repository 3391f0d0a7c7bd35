"""Read models handed out by storage: frozen values, detached from the ORM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain import Match
from service.urls import shown_url


@dataclass(frozen=True, slots=True)
class FeedState:
    id: int
    url: str
    name: str | None
    title: str | None
    enabled: bool
    etag: str | None
    last_modified: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    last_error_kind: str | None
    last_error: str | None
    consecutive_failures: int
    next_poll_at: datetime | None
    items_seen: int
    fetch_url: str | None = None  # where a 301 moved the feed; ``url`` stays its key
    interval_seconds: int | None = None  # learned from the publishing rate
    content_hash: str | None = None
    last_failure_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    ops_notified_at: datetime | None = None

    @property
    def display_name(self) -> str:
        """The feed's name, else its title, else its URL without credentials (the name
        goes to logs, the status table and ops channels)."""
        return self.name or self.title or shown_url(self.url)

    @property
    def target(self) -> str:
        """The URL to fetch: the config URL, or where it permanently moved."""
        return self.fetch_url or self.url

    @property
    def learned_interval(self) -> timedelta | None:
        return timedelta(seconds=self.interval_seconds) if self.interval_seconds else None


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """A stored article as the processing stage needs it."""

    id: int
    feed_id: int
    feed_name: str
    guid: str
    url: str | None
    canonical_url: str | None
    title: str
    summary: str
    content: str
    published_at: datetime | None
    fetched_at: datetime
    attempts: int
    feed_url: str | None = None  # the feed's configured URL (its per-feed settings)
    last_error: str | None = None  # why the previous delivery failed, if it did


@dataclass(frozen=True, slots=True)
class AlertView:
    """An outbox row with what the message needs to say."""

    id: int
    subscription_id: str
    story_id: int
    attempts: int
    delivered: tuple[int, ...]
    title: str
    url: str | None
    source: str
    published_at: datetime | None
    matches: tuple[Match, ...]
    other_outlets: tuple[str, ...]
    created_at: datetime | None = None
    digest: bool = False  # goes out in the subscription's next digest
    seen_at: datetime | None = None  # its entry was stored (the latency histogram's start)
    # (channel index, To address, envelope recipient) that took it on a channel that
    # failed for other recipients (email): not sent to again
    accepted: frozenset[tuple[int, str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """One line of `newswatch alerts`."""

    id: int
    subscription_id: str
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    title: str
    source: str
    next_attempt_at: datetime | None = None
    digest: bool = False

    @property
    def delivery(self) -> str:
        """The delivery state in words: sent, dead, held for a digest, or retrying."""
        if self.state != "pending":
            return self.state
        if self.digest:
            return "pending (next digest)"
        return "pending (retrying)" if self.attempts else "pending"


@dataclass(frozen=True, slots=True)
class FeedFailure:
    """One failed poll of a feed, as kept in its history."""

    at: datetime
    kind: str  # dns, connect, timeout, http, too-large, parse, refused-private, ...
    status: int | None
    message: str
