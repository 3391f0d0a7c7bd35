"""Backtest: what a configuration's watchlists would have alerted, before it goes live.

Ops change a watchlist and want to see its effect on real articles without
sending anything. ``newswatch backtest`` reads articles from the database
(read only: no migration, no write) or from a file, classifies them with the
compiled watchlists, routes them like the pipeline does and reports, per
subscription, the articles that would have alerted with the evidence.

    articles (stored, JSON lines / JSON array, or a feed file)
        ─► classify (the same Classifier as the worker)
        ─► route (the same subscriptions)
        ─► fold exact copies (the same story keys): one alert per story
        ─► BacktestReport

:func:`run_backtest` is pure; the readers (:func:`read_input_file`,
:func:`read_stored`) are the edges. Stored articles are classified on their
fetched page text when one was stored; nothing is fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select

from service.config.models import SubscriptionConfig
from service.dedup import ArticleIdentity, story_keys
from service.domain import Document, Match
from service.errors import FetchError
from service.matching.classifier import Classifier
from service.poller.parse import parse_feed, to_text
from service.routing import relevant_matches, subscription_matches
from service.storage.database import Database
from service.storage.models import ArticleRow, FeedRow
from service.urls import canonical_or_none


@dataclass(frozen=True, slots=True)
class BacktestArticle:
    """One article to run the watchlists over."""

    title: str
    url: str | None
    source: str
    published: datetime | None
    document: Document
    guid: str = ""

    def keys(self) -> list[str]:
        """Exact-copy story keys, as the pipeline computes them."""
        canonical = canonical_or_none(self.url)
        text = self.document.content or self.document.summary
        return story_keys(ArticleIdentity(canonical, self.guid or self.url or "", self.title, text))


@dataclass(frozen=True, slots=True)
class WouldAlert:
    """One alert a subscription would have sent: the article and the matches it shows."""

    article: BacktestArticle
    matches: tuple[Match, ...]
    copies: int = 0  # later copies of the same story, folded into this alert


@dataclass(frozen=True, slots=True)
class SubscriptionResult:
    subscription_id: str
    alerts: tuple[WouldAlert, ...]


@dataclass(frozen=True, slots=True)
class BacktestReport:
    articles: int
    subscriptions: tuple[SubscriptionResult, ...] = field(default_factory=tuple)


class _Folder:
    """Per subscription, the alerts so far and which story keys they hold."""

    def __init__(self) -> None:
        self.alerts: list[WouldAlert] = []
        self._owner: dict[str, int] = {}

    def add(self, article: BacktestArticle, matches: tuple[Match, ...]) -> None:
        keys = article.keys()
        first = next((self._owner[k] for k in keys if k in self._owner), None)
        if first is None:
            first = len(self.alerts)
            self.alerts.append(WouldAlert(article, matches))
        else:
            old = self.alerts[first]
            self.alerts[first] = WouldAlert(old.article, old.matches, old.copies + 1)
        for key in keys:
            self._owner.setdefault(key, first)


def run_backtest(
    classifier: Classifier,
    subscriptions: Sequence[SubscriptionConfig],
    articles: Iterable[BacktestArticle],
) -> BacktestReport:
    """Classify and route every article; one alert per subscription and story."""
    folders = {s.id: _Folder() for s in subscriptions}
    count = 0
    for article in articles:
        count += 1
        decision = classifier.decide(article.document)  # evidence only for what is shown
        found = decision.bare
        for subscription in subscriptions:
            if subscription_matches(subscription, found):
                shown = decision.quoted(relevant_matches(subscription, found.matches))
                folders[subscription.id].add(article, shown)
    results = tuple(SubscriptionResult(s.id, tuple(folders[s.id].alerts)) for s in subscriptions)
    return BacktestReport(count, results)


# -- readers ------------------------------------------------------------------


class BacktestInputError(ValueError):
    """Raised when an input file is neither JSON lines, a JSON array nor a feed."""


def read_input_file(path: Path) -> list[BacktestArticle]:
    """Articles from JSON lines, a JSON array of objects, or an RSS/Atom/JSON feed file."""
    try:
        body = path.read_bytes()
    except OSError as error:
        raise BacktestInputError(f"cannot read {path}: {error.strerror}") from error
    records = _json_records(body)
    if records is not None:
        return [_from_record(record, path.name) for record in records]
    try:
        parsed = parse_feed(body, path.resolve().as_uri())
    except FetchError as error:
        raise _not_articles(path) from error
    if not parsed.entries:
        raise _not_articles(path)
    source = parsed.title or path.name
    return [
        BacktestArticle(
            e.title, e.url, source, e.published, Document(e.title, e.summary, e.content),
            e.guid or "",
        )
        for e in parsed.entries
    ]


def _not_articles(path: Path) -> BacktestInputError:
    return BacktestInputError(f"{path}: not JSON lines, a JSON array or a feed with entries")


def _json_records(body: bytes) -> list[Mapping[str, Any]] | None:
    """The objects of a JSON array or of JSON lines; None when the body is not JSON."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, list):
        return [item for item in whole if isinstance(item, dict)]
    if isinstance(whole, dict) and "items" not in whole and "version" not in whole:
        return [whole]
    if isinstance(whole, dict):
        return None  # a JSON Feed: the feed parser reads it
    return list(_json_lines(text))


def _json_lines(text: str) -> Iterator[Mapping[str, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise BacktestInputError(f"line {number}: invalid JSON: {error.msg}") from error
        if isinstance(item, dict):
            yield item


def _first(record: Mapping[str, Any], *keys: str) -> Any:
    return next((record[k] for k in keys if record.get(k)), None)


def _from_record(record: Mapping[str, Any], default_source: str) -> BacktestArticle:
    title = to_text(str(_first(record, "title") or ""))
    summary = to_text(str(_first(record, "summary", "description") or ""))
    content = _first(record, "content", "content_text", "text") or ""
    if isinstance(content, list):
        content = "\n\n".join(str(part) for part in content)  # one paragraph each
    url = _first(record, "url", "link")
    document = Document(title, summary, to_text(str(content)))
    source = str(_first(record, "source", "feed", "feed_name") or default_source)
    published = _date(_first(record, "published", "date_published", "publish_date", "date"))
    guid = str(_first(record, "guid", "id") or url or "")
    return BacktestArticle(title, str(url) if url else None, source, published, document, guid)


def _date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_stored(database: Database, since: datetime) -> list[BacktestArticle]:
    """Stored articles fetched since ``since``, oldest first; reads, never writes."""
    columns = {c["name"] for c in inspect(database.engine).get_columns("articles")}
    full_text = ArticleRow.full_text if "full_text" in columns else None
    query = (
        select(
            ArticleRow.title, ArticleRow.summary, ArticleRow.content, ArticleRow.url,
            ArticleRow.guid, ArticleRow.published_at, FeedRow.name, FeedRow.title, FeedRow.url,
            *([full_text] if full_text is not None else []),
        )
        .join(FeedRow, FeedRow.id == ArticleRow.feed_id)
        .where(ArticleRow.fetched_at >= since)
        .order_by(ArticleRow.fetched_at, ArticleRow.id)
    )
    with database.session() as session:
        return [_from_row(tuple(row)) for row in session.execute(query)]


def _from_row(row: tuple[Any, ...]) -> BacktestArticle:
    title, summary, content, url, guid, published, name, feed_title, feed_url = row[:9]
    page = row[9] if len(row) > 9 else None
    body = page if page and len(page) > len(content) else content
    source = name or feed_title or feed_url
    return BacktestArticle(title, url, source, published, Document(title, summary, body), guid)
