"""The per-article work that Celery tasks (or the embedded runner) perform.

    load the batch, count one more delivery of each    (storage, one transaction)
    fetch the pages of its thin entries, together      (I/O)
    for each article:
        dead-letter it after too many deliveries       (decision)
        classify its text                              (pure)
        route the classification                       (pure)
        keys for exact copies, segments of text        (pure)
    store the batch: boilerplate, near copies, story,  (storage, one transaction,
        matches and alerts of each article              a savepoint per article)
    remember the errors of those that failed           (storage)

Everything is keyed so that running the same ids twice changes nothing; an
article that fails (in the pure part or in its savepoint) does not hold up the
others and is delivered again later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

from service.config.models import Config
from service.dedup import ArticleIdentity, near_duplicate, story_keys
from service.domain import Document
from service.fulltext import (
    FullText,
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
from service.storage.articles import ArticleStore, ProcessedArticle, TextAnalysis
from service.storage.database import Database
from service.storage.dead_letters import DeadLetterStore
from service.storage.ops_messages import OpsOutbox
from service.storage.records import ArticleRecord
from service.stories import article_sketch

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

    @cached_property
    def _full_text_policies(self) -> dict[str, FullTextPolicy]:
        """Per feed URL, once per configuration: looked up for every article."""
        return {feed.url: feed.full_text for feed in self.config.feeds}

    def full_text_policy(self, feed_url: str | None) -> FullTextPolicy:
        if feed_url is None:
            return "auto"
        return self._full_text_policies.get(feed_url, "auto")


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


def _too_old(processor: Processor, record: ArticleRecord, routed: Sequence[str]) -> None:
    """Say why a matching article sends nothing (else a once-run just reports 0 alerts)."""
    when = record.published_at or record.fetched_at
    log.info("matched but not alerted: older than alerts.max_age", article=record.id,
             feed=record.feed_name, published=when.isoformat(), subscriptions=list(routed),
             max_age=str(processor.config.settings.alerts.max_age))


def document_of(record: ArticleRecord, full_text: str | None = None) -> Document:
    """The text to classify: the article page's main text, when fetched, as content."""
    content = full_text if full_text and len(full_text) > len(record.content) else record.content
    return Document(title=record.title, summary=record.summary, content=content)


def warm_up(config: Config) -> None:
    """Load what the first article would load (the language model, the sketch's
    permutation table and its libraries: about a second), before any arrives."""
    sample = "Warm-up text: the first article should not wait for models to load."
    default_detector().detect(sample)
    near = near_duplicate(config.settings.dedup, "Warm-up", sample, datetime.now(UTC))
    if near is not None:
        article_sketch(list(near.parts))


def wants_page(processor: Processor, record: ArticleRecord) -> bool:
    """Whether the article page of this entry is to be fetched (the feed's ``full_text``)."""
    policy = processor.full_text_policy(record.feed_url)
    min_words = processor.config.settings.full_text.min_words
    return bool(processor.pages and record.url and policy != "never" and wants_full_text(
        policy, word_count(record.title, record.summary, record.content, at_most=min_words),
        min_words,
    ))


def fetch_pages(processor: Processor, records: Sequence[ArticleRecord]) -> dict[int, FullText]:
    """The article pages of a batch's thin entries, fetched together, by article id."""
    wanted = [record for record in records if wants_page(processor, record)]
    if not wanted or processor.pages is None:
        return {}
    pages = processor.pages.fetch_many([record.url or "" for record in wanted])
    for record, page in zip(wanted, pages, strict=True):
        if page.error:  # the reason is also stored with the article
            report = log.warning if page.attempted else log.debug
            report("article page not used", article=record.id, error=page.error)
    return {record.id: page for record, page in zip(wanted, pages, strict=True)}


def analyse_text(
    processor: Processor, record: ArticleRecord, page: FullText | None = None
) -> TextAnalysis:
    """Detect the language of the entry's text, or of its page's main text when fetched."""
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
    ids = list(article_ids)
    records = articles.begin_attempts(ids)
    report.skipped += len(ids) - len(records)
    work: list[ProcessedArticle] = []
    errors: dict[int, str] = {}
    live = [record for record in records if record.attempts <= max_deliveries]
    pages = fetch_pages(processor, live)
    for record in records:
        if record.attempts > max_deliveries:
            _dead_letter(database, processor.ops, record, now(), report)
            continue
        try:
            work.append(prepare(processor, record, now(), pages.get(record.id)))
        except Exception as e:
            errors[record.id] = _failed(record, e)
    by_id = {record.id: record for record in records}
    stored = articles.commit_batch(work, transient=is_transient) if work else []
    for item, outcome in zip(work, stored, strict=True):
        if isinstance(outcome, Exception):
            errors[item.article_id] = _failed(by_id[item.article_id], outcome)
        elif outcome is None:
            report.skipped += 1
        else:
            report.processed += 1
            report.duplicates += outcome.duplicate
            report.alerts += outcome.alerts_created
    if errors:
        articles.record_errors(errors)
        report.errors.extend(f"article {a}: {message}" for a, message in errors.items())
        report.failed_ids.extend(errors)
    return report


def _failed(record: ArticleRecord, error: BaseException) -> str:
    if is_transient(error):
        raise error
    message = f"{type(error).__name__}: {error}"
    log.error("article processing failed", article=record.id, feed=record.feed_name,
              error=message, exc_info=error)
    return message


def _dead_letter(
    database: Database, ops: OpsNotifier, record: ArticleRecord, now: datetime,
    report: BatchReport,
) -> None:
    """Move a poison article aside and tell ops, once (the notice is stored with it)."""
    error = record.last_error or "processing failed"
    attempts = record.attempts - 1
    report.dead += 1
    log.error("article dead-lettered", article=record.id, feed=record.feed_name,
              attempts=attempts, error=error)
    body = (f"Article {record.id} ({record.title!r} from {record.feed_name}) failed "
            f"{attempts} times and was set aside.\nLast error: {error}")
    notice = ops.notice("article dead-lettered", body)
    stored = DeadLetterStore(database).dead_letter_article(
        record.id, error=error, attempts=attempts, now=now, notice=notice)
    if stored is not None:  # a new dead letter (not one a redelivery found again)
        ops.tell(OpsOutbox(database), notice, stored[1])


def prepare(
    processor: Processor, record: ArticleRecord, now: datetime, page: FullText | None = None,
) -> ProcessedArticle:
    """The pure part of one article's work (its page fetched already): what to store for it."""
    analysis = analyse_text(processor, record, page)
    classification = processor.classifier.classify(document_of(record, analysis.full_text))
    routed = route(processor.config.watchlists.subscriptions, classification)
    if routed and not is_alertable(record, now, processor):
        _too_old(processor, record, routed)
        routed = []
    identity = ArticleIdentity(
        canonical_url=record.canonical_url, guid=record.guid, title=record.title,
        text=record.content or record.summary,
    )
    near = near_duplicate(processor.config.settings.dedup, record.title, identity.text, now,
                          analysis.language)
    return ProcessedArticle(
        record.id, story_keys=story_keys(identity), matches=classification.matches,
        subscription_ids=routed, now=now, analysis=analysis, near=near,
    )
