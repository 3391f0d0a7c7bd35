"""The per-article work that Celery tasks (or the embedded runner) perform.

    for each article id:
        load it and count one more delivery      (storage)
        dead-letter it after too many deliveries (decision)
        classify its text                        (pure)
        route the classification                 (pure)
        keys for exact copies, segments of text  (pure)
        the feed's boilerplate, a near copy      (storage + pure sketch, in the claim)
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
from service.dedup import ArticleIdentity, near_duplicate, story_keys
from service.domain import Document
from service.fulltext import (
    FullTextFetcher,
    FullTextPolicy,
    HttpFullTextFetcher,
    wants_full_text,
    word_count,
)
from service.language import LanguageDetector, default_detector
from service.matching.classifier import Classifier, compile_watchlists
from service.notify.ops import OpsNotifier
from service.routing import route
from service.storage.articles import ArticleStore, TextAnalysis
from service.storage.database import Database
from service.storage.dead_letters import DeadLetterStore
from service.storage.records import ArticleRecord

log = structlog.get_logger("newswatch.pipeline")

MAX_DELIVERIES = 5


@dataclass(frozen=True)
class Processor:
    """What the work needs from a configuration, compiled once per version."""

    config: Config
    classifier: Classifier
    pages: FullTextFetcher | None = None  # None: never fetch article pages
    languages: LanguageDetector | None = None  # None: language not detected
    ops: OpsNotifier = field(default_factory=lambda: OpsNotifier(()))  # told of dead letters

    @classmethod
    def from_config(cls, config: Config) -> Processor:
        return cls(
            config=config, classifier=compile_watchlists(config.watchlists),
            pages=HttpFullTextFetcher(config.settings.fetch), languages=default_detector(),
            ops=OpsNotifier.from_urls(config.settings.ops.notify),
        )

    def full_text_policy(self, feed_url: str | None) -> FullTextPolicy:
        feed = next((f for f in self.config.feeds if f.url == feed_url), None)
        return feed.full_text if feed is not None else "auto"


@dataclass
class BatchReport:
    processed: int = 0
    duplicates: int = 0
    alerts: int = 0
    skipped: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)
    failed_ids: list[int] = field(default_factory=list)  # to deliver again, later

    def add(self, other: BatchReport) -> None:
        self.processed += other.processed
        self.duplicates += other.duplicates
        self.alerts += other.alerts
        self.skipped += other.skipped
        self.dead += other.dead
        self.errors.extend(other.errors)
        self.failed_ids.extend(other.failed_ids)


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying the whole batch for: the database went away."""
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def is_alertable(record: ArticleRecord, now: datetime, processor: Processor) -> bool:
    """Old articles are stored and classified but never alerted."""
    when = record.published_at or record.fetched_at
    return now - when <= processor.config.settings.alerts.max_age


def document_of(record: ArticleRecord, full_text: str | None = None) -> Document:
    """The text to classify: the article page's main text, when fetched, as content."""
    content = full_text if full_text and len(full_text) > len(record.content) else record.content
    return Document(title=record.title, summary=record.summary, content=content)


def analyse_text(processor: Processor, record: ArticleRecord) -> TextAnalysis:
    """Fetch the page of a thin entry (per the feed's ``full_text``) and detect the language."""
    page = None
    feed_words = word_count(record.title, record.summary, record.content)
    policy = processor.full_text_policy(record.feed_url)
    min_words = processor.config.settings.full_text.min_words
    if processor.pages and record.url and wants_full_text(policy, feed_words, min_words):
        page = processor.pages.fetch(record.url)
        if page.error:
            log.warning("article page not used", article=record.id, error=page.error)
    full_text = page.text if page else None
    document = document_of(record, full_text)
    text = "\n".join((document.title, document.summary, document.content))
    language = processor.languages.detect(text) if processor.languages else None
    return TextAnalysis(language, full_text, page.error if page else None)


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
            _dead_letter(DeadLetterStore(database), processor.ops, record, now(), report)
        else:
            _process_guarded(articles, processor, record, now(), report)
    return report


def _dead_letter(
    letters: DeadLetterStore, ops: OpsNotifier, record: ArticleRecord, now: datetime,
    report: BatchReport,
) -> None:
    """Move a poison article aside and tell ops, once."""
    error = record.last_error or "processing failed"
    letter = letters.dead_letter_article(
        record.id, error=error, attempts=record.attempts - 1, now=now
    )
    report.dead += 1
    log.error("article dead-lettered", article=record.id, feed=record.feed_name,
              attempts=record.attempts - 1, error=error)
    if letter is None:
        return
    body = (f"Article {record.id} ({record.title!r} from {record.feed_name}) failed "
            f"{letter.attempts} times and was set aside.\nLast error: {error}")
    if ops.notify("article dead-lettered", body):
        letters.mark_notified(letter.id, now)


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
        report.failed_ids.append(record.id)
        log.exception("article processing failed", article=record.id, feed=record.feed_name)


def _process(
    articles: ArticleStore, processor: Processor, record: ArticleRecord,
    now: datetime, report: BatchReport,
) -> None:
    analysis = analyse_text(processor, record)
    classification = processor.classifier.classify(document_of(record, analysis.full_text))
    subscriptions = processor.config.watchlists.subscriptions
    routed = route(subscriptions, classification) if is_alertable(record, now, processor) else []
    identity = ArticleIdentity(
        canonical_url=record.canonical_url, guid=record.guid, title=record.title,
        text=record.content or record.summary,
    )
    near = near_duplicate(processor.config.settings.dedup, record.title, identity.text, now)
    outcome = articles.commit_processed(
        record.id, story_keys=story_keys(identity), classification=classification,
        subscription_ids=routed, now=now, analysis=analysis, near=near,
    )
    if outcome is None:
        report.skipped += 1
        return
    report.processed += 1
    report.duplicates += outcome.duplicate
    report.alerts += outcome.alerts_created
