"""Articles: new entries in, deliveries counted, processed batches out.

``commit_batch`` is where exactly-once lives: each article's story keys, its
matches and its outbox rows are written together (one transaction per batch,
a savepoint per article, see ``service.storage.processing``), and the unique
keys make a second run of the same work a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import Connection, Row, Table, bindparam, select, update

from service.domain import Classification, FeedEntry
from service.storage.database import Database, insert_ignore
from service.storage.event_index import prune_if_due
from service.storage.listed import Bind, in_listed
from service.storage.models import ArticleRow, FeedRow
from service.storage.processing import (
    Outcome,
    ProcessedArticle,
    ProcessedOutcome,
    TextAnalysis,
    commit_batch,
)
from service.storage.records import ArticleRecord
from service.stories import NearDuplicate
from service.urls import canonical_or_none, shown_url

__all__ = ["ArticleStore", "ProcessedArticle", "ProcessedOutcome", "TextAnalysis", "entry_guid"]

log = structlog.get_logger("newswatch.storage")

_MAX_GUID = 512
_ARTICLES: Table = ArticleRow.__table__  # type: ignore[assignment]  # Core reads and writes
_FEEDS: Table = FeedRow.__table__  # type: ignore[assignment]
_RECORD_COLUMNS = ("id", "feed_id", "guid", "url", "canonical_url", "title", "summary",
                   "content", "published_at", "fetched_at", "attempts", "last_error")


def entry_guid(entry: FeedEntry) -> str:
    """The entry's identity within its feed: GUID, else link, else a text hash."""
    guid = (entry.guid or entry.url or "").strip()
    if not guid:
        text = f"{entry.title}\n{entry.summary}\n{entry.content}"
        guid = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    if len(guid) > _MAX_GUID:
        guid = "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
    return guid


class ArticleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add_entries(
        self, feed_id: int, entries: Sequence[FeedEntry], now: datetime,
        connection: Connection | None = None,
    ) -> list[int]:
        """Store entries not seen before in this feed; return the new article ids.

        Core, not the ORM (a changed feed's most frequent write, kept cheap);
        within ``connection``'s transaction when given (the poll's record joins it).
        """
        rows = _unique_rows(_entry_values(feed_id, entry, now) for entry in entries)
        if not rows:
            return []
        if connection is None:
            with self._db.engine.begin() as own:
                return self.add_entries(feed_id, entries, now, own)
        statement = _insert_entries(connection.dialect.name, connection)
        # executemany: SQLAlchemy sends multi-row INSERT ... RETURNING batches
        new_ids = list(connection.execute(statement, rows).scalars())
        return sorted(new_ids)  # ids grow in insertion order: the entries' order

    def ids_in_state(self, state: str, limit: int = 10_000) -> list[int]:
        with self._db.session() as session:
            query = select(ArticleRow.id).where(ArticleRow.state == state).order_by(ArticleRow.id)
            return list(session.scalars(query.limit(limit)))

    def stale_new_ids(self, fetched_before: datetime, limit: int = 10_000) -> list[int]:
        """Articles still waiting long after they were stored (a lost batch or task)."""
        with self._db.session() as session:
            query = (
                select(ArticleRow.id)
                .where(ArticleRow.state == "new", ArticleRow.fetched_at < fetched_before)
                .order_by(ArticleRow.id)
                .limit(limit)
            )
            return list(session.scalars(query))

    def unsettled(self, ids: Iterable[int]) -> list[int]:
        """Those of ``ids`` still waiting to be processed (or dead-lettered)."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        with self._db.engine.connect() as connection:
            query, bind = _waiting_query(connection.dialect.name)
            return list(connection.scalars(query, {"ids": bind(wanted)}))

    def begin_attempt(self, article_id: int) -> ArticleRecord | None:
        """Count one more delivery of a new article and return it (None if done)."""
        return next(iter(self.begin_attempts([article_id])), None)

    def begin_attempts(self, article_ids: Sequence[int]) -> list[ArticleRecord]:
        """Count one more delivery of each new article; the records, in ``article_ids``'
        order (done or unknown ones left out). Committed before any work starts, so a
        worker killed by an article still counts the delivery."""
        unique = list(dict.fromkeys(article_ids))
        if not unique:
            return []
        with self._db.engine.begin() as connection:
            load, count, bind = _attempt_statements(connection.dialect.name)
            rows = connection.execute(load, {"ids": bind(sorted(unique))}).all()
            if rows:
                connection.execute(count, {"ids": bind([row.id for row in rows])})
            found = {row.id: _record(row) for row in rows}
        return [found[i] for i in unique if i in found]

    def record_error(self, article_id: int, error: str) -> None:
        self.record_errors({article_id: error})

    def record_errors(self, errors: Mapping[int, str]) -> None:
        """Remember why each article failed (shown in its dead letter if it keeps failing)."""
        if not errors:
            return
        table: Table = ArticleRow.__table__  # type: ignore[assignment]
        statement = (update(table).where(table.c.id == bindparam("article_id"))
                     .values(last_error=bindparam("error")))
        with self._db.session() as session, session.begin():
            session.connection().execute(
                statement, [{"article_id": a, "error": e} for a, e in errors.items()])

    def commit_processed(
        self, article_id: int, *, story_keys: Sequence[str], classification: Classification,
        subscription_ids: Sequence[str], now: datetime, analysis: TextAnalysis | None = None,
        near: NearDuplicate | None = None,
    ) -> ProcessedOutcome | None:
        """Join or start a story, store matches and outbox rows, all at once."""
        item = ProcessedArticle(article_id, story_keys, classification.matches, subscription_ids,
                                now, analysis, near)
        (outcome,) = self.commit_batch([item], transient=lambda _: True)
        assert not isinstance(outcome, Exception)  # every error propagates here
        return outcome

    def commit_batch(
        self, items: Sequence[ProcessedArticle], *, transient: Callable[[BaseException], bool],
    ) -> list[Outcome]:
        """Store a batch in one transaction (see ``service.storage.processing``); one
        outcome per item. Should the batch fail, each article is stored alone, so that
        one the database refuses fails alone (its outcome is the error); a
        ``transient`` error (the database went away) propagates instead."""
        outcomes: list[Outcome]
        try:
            with self._db.session() as session, session.begin():
                outcomes = list(commit_batch(session, items))
        except Exception as e:
            if transient(e):
                raise
            if len(items) == 1:
                return [e]
            log.warning("batch store failed; storing its articles one by one", error=str(e))
        else:  # stored: now the index's old rows may go, outside the batch's locks
            prune_if_due(self._db, min((i.near.since for i in items if i.near is not None),
                                       default=None))
            return outcomes
        return [outcome for item in items for outcome in self.commit_batch(
            [item], transient=transient)]


_INSERTS: dict[str, Any] = {}  # per dialect: built once, only bound per changed feed


# The id lists are bound as one parameter (service.storage.listed): an IN list of
# a batch's ids was a new statement text for each length, parsed again each time.
@lru_cache(maxsize=2)
def _waiting_query(dialect: str) -> tuple[Any, Bind]:
    condition, bind = in_listed(dialect, ArticleRow.id, "ids")
    return select(ArticleRow.id).where(condition, ArticleRow.state == "new"), bind


@lru_cache(maxsize=2)
def _attempt_statements(dialect: str) -> tuple[Any, Any, Bind]:
    """The new articles among some ids with their feeds (locked on PostgreSQL), and
    one more delivery counted for each. Core rows, not ORM objects: loading a
    batch's articles and feeds as entities cost ~0.08 ms of worker CPU per
    article (bench_processing), for values handed out as ``ArticleRecord``."""
    articles, feeds = _ARTICLES, _FEEDS
    condition, bind = in_listed(dialect, articles.c.id, "ids")
    load = (select(*(articles.c[name] for name in _RECORD_COLUMNS),
                   feeds.c.name.label("feed_name"), feeds.c.title.label("feed_title"),
                   feeds.c.url.label("feed_url"))
            .join(feeds, feeds.c.id == articles.c.feed_id)
            .where(condition, articles.c.state == "new").order_by(articles.c.id))
    if dialect == "postgresql":
        load = load.with_for_update(of=articles)
    count = update(articles).where(condition).values(attempts=articles.c.attempts + 1)
    return load, count, bind


def _insert_entries(dialect: str, connection: Connection) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id for new entries."""
    statement = _INSERTS.get(dialect)
    if statement is None:
        statement = insert_ignore(connection, _ARTICLES).returning(_ARTICLES.c.id)
        _INSERTS[dialect] = statement
    return statement


def _unique_rows(rows: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    """The first row of each GUID (a feed listing one entry twice keeps the first).

    A GUID the document gives to entries with different links (a CMS that puts
    the site's address in every ``<guid>``) is not their identity: each such
    entry is told apart by its link (``GUID#link``), or all but the first would
    be taken for it and lost, poll after poll.
    """
    listed = list(rows)
    links: dict[object, set[object]] = {}
    for row in listed:
        links.setdefault(row["guid"], set()).add(row["url"])
    first: dict[object, dict[str, object]] = {}
    for row in listed:
        if len(links[row["guid"]]) > 1 and row["url"]:
            row["guid"] = _shared_guid(str(row["guid"]), str(row["url"]))
        first.setdefault(row["guid"], row)
    return list(first.values())


def _shared_guid(guid: str, url: str) -> str:
    told = f"{guid}#{url}"
    return told if len(told) <= _MAX_GUID else "sha256:" + hashlib.sha256(told.encode()).hexdigest()


def _entry_values(feed_id: int, entry: FeedEntry, now: datetime) -> dict[str, object]:
    return {
        "feed_id": feed_id, "guid": entry_guid(entry), "url": entry.url,
        "canonical_url": canonical_or_none(entry.url), "title": entry.title,
        "summary": entry.summary, "content": entry.content, "author": entry.author,
        "published_at": entry.published, "fetched_at": now, "state": "new", "attempts": 0,
    }


def _record(row: Row[Any]) -> ArticleRecord:
    """The article as a worker handles it, its delivery just counted."""
    feed_name = row.feed_name or row.feed_title or shown_url(row.feed_url)
    return ArticleRecord(
        id=row.id, feed_id=row.feed_id, feed_name=feed_name, guid=row.guid, url=row.url,
        canonical_url=row.canonical_url, title=row.title, summary=row.summary,
        content=row.content, published_at=row.published_at, fetched_at=row.fetched_at,
        attempts=row.attempts + 1, feed_url=row.feed_url, last_error=row.last_error,
    )
