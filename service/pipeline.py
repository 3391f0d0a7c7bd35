"""The per-article work that Celery tasks (or the embedded runner) perform.

    for each article id:
        load it and count one more delivery      (storage)
        dead-letter it after too many deliveries (decision)
        classify its text                        (pure)
        route the classification                 (pure)
        keys for exact copies                    (pure)
        store story, matches and alerts at once  (storage, one transaction)

Everything is keyed so that running the same ids twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

from service.config.models import Config
from service.dedup import ArticleIdentity, story_keys
from service.domain import Document
from service.matching.classifier import Classifier, compile_watchlists
from service.routing import route
from service.storage.articles import ArticleStore
from service.storage.database import Database
from service.storage.records import ArticleRecord

log = structlog.get_logger("newswatch.pipeline")

MAX_DELIVERIES = 5


@dataclass(frozen=True)
class Processor:
    """What the work needs from a configuration, compiled once per version."""

    config: Config
    classifier: Classifier

    @classmethod
    def from_config(cls, config: Config) -> Processor:
        return cls(config=config, classifier=compile_watchlists(config.watchlists))


@dataclass
class BatchReport:
    processed: int = 0
    duplicates: int = 0
    alerts: int = 0
    skipped: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: BatchReport) -> None:
        self.processed += other.processed
        self.duplicates += other.duplicates
        self.alerts += other.alerts
        self.skipped += other.skipped
        self.dead += other.dead
        self.errors.extend(other.errors)


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying the whole batch for: the database went away."""
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def is_alertable(record: ArticleRecord, now: datetime, processor: Processor) -> bool:
    """Old articles are stored and classified but never alerted."""
    when = record.published_at or record.fetched_at
    return now - when <= processor.config.settings.alerts.max_age


def document_of(record: ArticleRecord) -> Document:
    return Document(title=record.title, summary=record.summary, content=record.content)


def process_articles(
    database: Database,
    processor: Processor,
    article_ids: Iterable[int],
    now: Callable[[], datetime],
    max_deliveries: int = MAX_DELIVERIES,
) -> BatchReport:
    """Process each article once; transient database errors propagate for a retry."""
    articles = ArticleStore(database)
    report = BatchReport()
    for article_id in article_ids:
        record = articles.begin_attempt(article_id)
        if record is None:
            report.skipped += 1
        elif record.attempts > max_deliveries:
            _dead_letter(articles, record, now(), report)
        else:
            _process_guarded(articles, processor, record, now(), report)
    return report


def _dead_letter(
    articles: ArticleStore, record: ArticleRecord, now: datetime, report: BatchReport
) -> None:
    error = f"dead-lettered after {record.attempts - 1} failed deliveries"
    articles.mark_dead(record.id, error, now)
    report.dead += 1
    log.error("article dead-lettered", article=record.id, feed=record.feed_name, error=error)


def _process_guarded(
    articles: ArticleStore, processor: Processor, record: ArticleRecord,
    now: datetime, report: BatchReport,
) -> None:
    try:
        _process(articles, processor, record, now, report)
    except Exception as e:
        if is_transient(e):
            raise
        message = f"{type(e).__name__}: {e}"
        articles.record_error(record.id, message)
        report.errors.append(f"article {record.id}: {message}")
        log.exception("article processing failed", article=record.id, feed=record.feed_name)


def _process(
    articles: ArticleStore, processor: Processor, record: ArticleRecord,
    now: datetime, report: BatchReport,
) -> None:
    classification = processor.classifier.classify(document_of(record))
    subscriptions = processor.config.watchlists.subscriptions
    routed = route(subscriptions, classification) if is_alertable(record, now, processor) else []
    identity = ArticleIdentity(
        canonical_url=record.canonical_url, guid=record.guid, title=record.title,
        text=record.content or record.summary,
    )
    outcome = articles.commit_processed(
        record.id, story_keys=story_keys(identity), classification=classification,
        subscription_ids=routed, now=now,
    )
    if outcome is None:
        report.skipped += 1
        return
    report.processed += 1
    report.duplicates += outcome.duplicate
    report.alerts += outcome.alerts_created
