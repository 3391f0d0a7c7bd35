"""The database schema (SQLAlchemy 2 ORM tables); Alembic migrations mirror it.

Uniqueness is where idempotence lives: an entry is one row per (feed, GUID),
a story key belongs to one story, and an alert is one row per (subscription,
story), so a task that runs twice stores nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite has no 64-bit autoincrement BIGINT; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime stored: {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class FeedRow(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str | None] = mapped_column(String(512))
    title: Mapped[str | None] = mapped_column(String(1024))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error_kind: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    # migration 0002: scheduling and disabling (service.scheduling)
    fetch_url: Mapped[str | None] = mapped_column(String(2048))  # after a 301; url stays the key
    config_hash: Mapped[str | None] = mapped_column(String(64))  # a changed entry re-enables
    interval_seconds: Mapped[int | None] = mapped_column(Integer)  # learned from the rate
    content_hash: Mapped[str | None] = mapped_column(String(64))  # unchanged body: no parse
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    ops_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FeedFailureRow(Base):
    """One failed poll of a feed (migration 0010): the history behind
    ``feeds.last_error``, pruned to the last ``FAILURES_KEPT`` per feed and
    ``FAILURES_MAX_AGE`` (service.storage.feeds)."""

    __tablename__ = "feed_failures"
    __table_args__ = (Index("ix_feed_failures_feed_at", "feed_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # dns, connect, timeout, http, too-large, parse, refused-private, redirects, bad-url
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)


class StoryRow(Base):
    __tablename__ = "stories"
    __table_args__ = (
        Index("ix_stories_updated_at", "updated_at"),  # migration 0004
        Index("ix_stories_first_article", "first_article_id"),  # migration 0011
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The first article; no foreign key, to keep articles <-> stories acyclic.
    first_article_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    article_count: Mapped[int] = mapped_column(Integer, default=1)


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_articles_feed_guid"),
        Index("ix_articles_state", "state"),
        Index("ix_articles_story", "story_id"),
        Index("ix_articles_fetched_at", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(String(4096))
    canonical_url: Mapped[str | None] = mapped_column(String(4096))
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(1024))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # new -> processed | duplicate | dead (a poison entry after max attempts)
    state: Mapped[str] = mapped_column(String(16), default="new")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"))
    # migration 0003: language detection and full text of thin entries (service.fulltext)
    language: Mapped[str | None] = mapped_column(String(16))  # ISO 639-1; None: unsure
    full_text: Mapped[str | None] = mapped_column(Text)  # main text of the article page
    full_text_error: Mapped[str | None] = mapped_column(Text)  # why the page gave none


class StoryKeyRow(Base):
    """A key (canonical URL, global GUID, text hash) claimed by one story."""

    __tablename__ = "story_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))


class MatchRow(Base):
    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("article_id", "kind", "ref_id", name="uq_matches_article_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(512))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    participants: Mapped[list[str]] = mapped_column(JSON)


class AlertRow(Base):
    """The outbox: one row per subscription and story, sent by the sender."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("subscription_id", "story_id", name="uq_alerts_subscription_story"),
        Index("ix_alerts_state_next", "state", "next_attempt_at"),
        Index("ix_alerts_subscription_sent", "subscription_id", "sent_at"),  # 0005
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(256))
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    # pending -> sent | dead
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # indexes into the subscription's notify list already delivered, so a
    # retry after a partial failure never sends twice to the same channel
    delivered: Mapped[list[int]] = mapped_column(JSON, default=list)
    # [channel index, To address, envelope recipient] that accepted it on a channel
    # (email) that failed for others: a retry sends only to the rest
    accepted: Mapped[list[list[Any]] | None] = mapped_column(JSON, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # migration 0005: goes (or went) out in a digest rather than on its own
    digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # migration 0013: no attempt before this, whoever asks (a sender's lease, or the
    # wait a service asked for with Retry-After); next_attempt_at is only the schedule
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SubscriptionStateRow(Base):
    """Per-subscription delivery state (migration 0005): when the last digest went out."""

    __tablename__ = "subscription_state"

    subscription_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# migration 0004: the shared near-duplicate story index (service.storage.stories)
class StoryBandRow(Base):
    """One LSH band key of an indexed article: articles sharing a key are candidates.

    No foreign key to articles (migration 0014): 64 rows an article, each
    checked by a trigger on PostgreSQL, for articles that are never deleted.
    No index by article either (migration 0019p): an article's keys are in its
    sketch row (``ArticleSketchRow.bands``), which is how pruning and a batch's
    catch-up find its rows.
    """

    __tablename__ = "story_bands"

    band: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class ClaimLogRow(Base):
    """An article a batch stored, with the batch's transaction (PostgreSQL's
    ``pg_current_xact_id()``): what a batch that read the story index before
    its claim locks must read again under them (``service.storage.near_index``).
    Pruned with the story index; unused on SQLite (one writer at a time).
    """

    __tablename__ = "claim_log"
    __table_args__ = (Index("ix_claim_log_created_at", "created_at"),)  # migration 0018a

    xact: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ArticleSketchRow(Base):
    """An indexed article's shingles (sorted uint32), for the exact check."""

    __tablename__ = "article_sketches"
    __table_args__ = (Index("ix_article_sketches_created_at", "created_at"),)  # migration 0011

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    shingles: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the same-event TF-IDF vectors (service.stories.events.encode), migration 0011
    event: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # its story_bands keys (service.storage.stories.encode_bands), migration 0019p
    bands: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class FeedSegmentRow(Base):
    """A sentence or line fingerprint seen in a feed, and the first entry that had it."""

    __tablename__ = "feed_segments"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(BigInteger)


class StoryTermRow(Base):
    """A salient term of an indexed article: articles sharing one are same-event candidates."""

    __tablename__ = "story_terms"
    __table_args__ = (Index("ix_story_terms_article", "article_id"),)

    term: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )


class TermFrequencyRow(Base):
    """How many indexed articles of one day carried a term (term 0: all articles).

    ``shard`` spreads one term's count over rows so that workers rarely wait
    on each other's counts; the document frequency is the sum.
    """

    __tablename__ = "term_frequencies"

    term: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # days since 1970-01-01
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    documents: Mapped[int] = mapped_column(Integer)
