"""Feed rows and their poll state: validators, schedule, failures, disabling.

The configured URL is a feed's identity (``url``); where it permanently moved
is ``fetch_url``. A hash of the feed's configuration entry is kept so that a
changed entry re-enables a disabled feed. ``claim`` takes a due feed
atomically, so two pollers never poll one feed at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Delete,
    Integer,
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from service.config.models import FeedConfig
from service.storage.database import Database, insert_ignore
from service.storage.models import FeedFailureRow, FeedRow
from service.storage.ops_messages import OpsNotice, StoredNotice, add_notice
from service.storage.records import FeedFailure, FeedState

_FEEDS: Table = FeedRow.__table__  # type: ignore[assignment]  # Core, for one-statement writes

_FAILURES: Table = FeedFailureRow.__table__  # type: ignore[assignment]
FAILURES_KEPT = 50  # per feed, the newest
FAILURES_MAX_AGE = timedelta(days=30)

_STATE_FIELDS = tuple(FeedState.__dataclass_fields__)
_ENABLED_AGAIN: dict[str, Any] = {
    "enabled": True, "disabled_at": None, "disabled_reason": None, "ops_notified_at": None,
    "consecutive_failures": 0, "next_poll_at": None, "fetch_url": None,
}


def config_hash(feed: FeedConfig) -> str:
    """A stable hash of a feed's configuration entry."""
    entry = json.dumps(feed.as_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(entry.encode()).hexdigest()


def _state(row: FeedRow) -> FeedState:
    return FeedState(**{name: getattr(row, name) for name in _STATE_FIELDS})


class FeedStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- configuration ---------------------------------------------------------

    def sync(self, feeds: Sequence[FeedConfig], now: datetime) -> dict[str, FeedState]:
        """Give every configured feed a row; a changed entry is re-enabled.

        Returns the configured feeds' states by URL.
        """
        self.register(feeds, now)
        return self.states([feed.url for feed in feeds])

    def register(self, feeds: Sequence[FeedConfig], now: datetime) -> None:
        """``sync`` without reading the states back (a poller reads ``schedule``)."""
        with self._db.session() as session, session.begin():
            known = {url: (id_, hash_, enabled) for id_, url, hash_, enabled in session.execute(
                select(FeedRow.id, FeedRow.url, FeedRow.config_hash, FeedRow.enabled))}
            _insert_new(session, [f for f in feeds if f.url not in known], now)
            changes = [_change(known[f.url], f) for f in feeds if f.url in known]
            updates = [c for c in changes if c is not None]
            if updates:
                session.execute(update(FeedRow), updates)

    def enable(self, url: str) -> bool:
        """Re-enable a feed (``newswatch feeds enable``); False when no such feed."""
        with self._db.session() as session, session.begin():
            result = session.execute(
                update(FeedRow).where(FeedRow.url == url).values(**_ENABLED_AGAIN))
            return bool(getattr(result, "rowcount", 0))

    # --- reading ---------------------------------------------------------------

    def states(self, urls: Sequence[str] | None = None) -> dict[str, FeedState]:
        """States by URL: of ``urls``, or of every feed."""
        wanted = None if urls is None else set(urls)
        with self._db.session() as session:
            rows = session.scalars(select(FeedRow).order_by(FeedRow.id))
            return {r.url: _state(r) for r in rows if wanted is None or r.url in wanted}

    def schedule(self) -> list[tuple[str, datetime | None, bool]]:
        """(URL, next poll, enabled) of every feed: all a poll queue needs, read
        without building 100,000 full states (poller memory, bench_poller)."""
        query = select(_FEEDS.c.url, _FEEDS.c.next_poll_at, _FEEDS.c.enabled)
        with self._db.engine.connect() as connection:
            return [(url, due, bool(on)) for url, due, on in connection.execute(query)]

    def state(self, url: str) -> FeedState | None:
        with self._db.session() as session:
            row = session.scalars(select(FeedRow).where(FeedRow.url == url)).one_or_none()
            return _state(row) if row is not None else None

    def claim(self, url: str, now: datetime, lease: timedelta) -> FeedState | None:
        """Take a due, enabled feed for one poll: its next poll moves ``lease`` ahead
        (so no other poller takes it meanwhile). None when it is not due or disabled."""
        with self._db.session() as session, session.begin():
            result = session.execute(
                update(FeedRow)
                .where(FeedRow.url == url, FeedRow.enabled.is_(True),
                       or_(FeedRow.next_poll_at.is_(None), FeedRow.next_poll_at <= now))
                .values(next_poll_at=now + lease)
            )
            if not getattr(result, "rowcount", 0):
                return None
            row = session.scalars(select(FeedRow).where(FeedRow.url == url)).one()
            return _state(row)

    # --- recording a poll ------------------------------------------------------

    def record_success(
        self, feed_id: int, now: datetime, *, status: int, etag: str | None,
        last_modified: str | None, title: str | None, new_items: int,
        next_poll_at: datetime, fetch_url: str | None = None,
        interval: timedelta | None = None, content_hash: str | None = None,
        connection: Connection | None = None,
    ) -> None:
        """Record a poll that brought a changed feed (within ``connection``'s
        transaction when given: the one that stored its entries)."""
        params = _success_params(feed_id, now, status, next_poll_at, fetch_url)
        params.update(b_etag=etag, b_last_modified=last_modified, b_new_items=new_items,
                      b_title=title or None, b_content_hash=content_hash or None,
                      b_interval=None if interval is None
                      else max(1, round(interval.total_seconds())))
        self._execute(_RECORD_SUCCESS, params, connection)

    def record_not_modified(
        self, feed_id: int, now: datetime, next_poll_at: datetime, *,
        fetch_url: str | None = None, status: int = 304,
    ) -> None:
        params = _success_params(feed_id, now, status, next_poll_at, fetch_url)
        self._execute(_RECORD_NOT_MODIFIED, params)

    def _execute(
        self, statement: Update, params: dict[str, Any], connection: Connection | None = None
    ) -> None:
        """One prepared UPDATE of a feed (a poll's record: the poller's most frequent
        write; built once, so a poll only binds its values)."""
        if connection is None:
            with self._db.engine.begin() as own:  # Core: no ORM session or objects
                self._execute(statement, params, own)
            return
        if connection.execute(statement, params).rowcount == 0:
            raise NoResultFound(f"no feed with id {params['b_id']}")

    def transaction(self) -> AbstractContextManager[Connection]:
        """A Core connection in a transaction, for a poll's writes together."""
        return self._db.engine.begin()

    def record_failure(
        self, feed_id: int, now: datetime, *, kind: str, message: str,
        status: int | None, next_poll_at: datetime | None,
        disable_reason: str | None = None, fetch_url: str | None = None,
    ) -> None:
        """Record a failed poll, in the feed's row and its failure history (pruned
        to the last ``FAILURES_KEPT`` within ``FAILURES_MAX_AGE``); with
        ``disable_reason`` the feed is disabled."""
        with self._db.session() as session, session.begin():
            row = session.get_one(FeedRow, feed_id)
            row.last_polled_at = row.last_failure_at = now
            row.last_status = status
            row.last_error_kind, row.last_error = kind, message
            row.consecutive_failures += 1
            row.next_poll_at = next_poll_at
            row.fetch_url = fetch_url or row.fetch_url
            if disable_reason is not None:
                row.enabled, row.disabled_at, row.disabled_reason = False, now, disable_reason
            session.execute(insert(_FAILURES).values(
                feed_id=feed_id, at=now, kind=kind, status=status, message=message))
            session.execute(_prune_failures(feed_id, now))

    def failures(self, url: str, limit: int = FAILURES_KEPT) -> list[FeedFailure]:
        """The feed's failed polls, newest first (empty for an unknown feed)."""
        query = (
            select(_FAILURES.c.at, _FAILURES.c.kind, _FAILURES.c.status, _FAILURES.c.message)
            .join(_FEEDS, _FEEDS.c.id == _FAILURES.c.feed_id)
            .where(_FEEDS.c.url == url)
            .order_by(_FAILURES.c.at.desc(), _FAILURES.c.id.desc())
            .limit(limit)
        )
        with self._db.engine.connect() as connection:
            return [FeedFailure(*row) for row in connection.execute(query)]

    def claim_ops_notice(self, feed_id: int, now: datetime, notice: OpsNotice
                         ) -> list[StoredNotice] | None:
        """Exactly once per disabling: ``notice`` stored for ops (``ops_notified_at``
        set), and the stored notices returned for the caller to hand over; else None."""
        with self._db.session() as session, session.begin():
            result = session.execute(
                update(FeedRow)
                .where(FeedRow.id == feed_id, FeedRow.enabled.is_(False),
                       FeedRow.ops_notified_at.is_(None))
                .values(ops_notified_at=now)
            )
            if not getattr(result, "rowcount", 0):
                return None
            return add_notice(session.connection(), notice, now)

    @property
    def database(self) -> Database:
        return self._db

    def unannounced_disabled(self) -> list[FeedState]:
        """Disabled feeds ops were not told about yet (a crash between the two)."""
        with self._db.session() as session:
            rows = session.scalars(select(FeedRow).where(
                FeedRow.enabled.is_(False), FeedRow.ops_notified_at.is_(None)))
            return [_state(r) for r in rows]


def _insert_new(session: Session, feeds: Sequence[FeedConfig], now: datetime) -> None:
    if not feeds:
        return
    rows = [
        {"url": f.url, "name": f.name, "enabled": True, "created_at": now,
         "consecutive_failures": 0, "items_seen": 0, "config_hash": config_hash(f)}
        for f in feeds
    ]
    session.execute(insert_ignore(session, FeedRow.__table__), rows)  # type: ignore[arg-type]


def _change(known: tuple[int, str | None, bool], feed: FeedConfig) -> dict[str, Any] | None:
    """The update for a known feed whose entry changed (re-enabling it), else None."""
    feed_id, stored_hash, enabled = known
    new_hash = config_hash(feed)
    if stored_hash == new_hash:
        return None
    change: dict[str, Any] = {"id": feed_id, "name": feed.name, "config_hash": new_hash}
    return change if enabled else change | _ENABLED_AGAIN


def _param(name: str, column: str) -> BindParameter[Any]:
    return bindparam(name, type_=_FEEDS.c[column].type)


def _keep_unless(name: str, column: str) -> ColumnElement[Any]:
    """The new value, or the stored one when the poll brought none (NULL)."""
    return func.coalesce(_param(name, column), _FEEDS.c[column])


_SUCCESS_VALUES: dict[str, Any] = {
    "last_polled_at": _param("b_now", "last_polled_at"),
    "last_success_at": _param("b_now", "last_success_at"),
    "last_status": _param("b_status", "last_status"),
    "consecutive_failures": 0, "last_error_kind": None, "last_error": None,
    "next_poll_at": _param("b_next", "next_poll_at"),
    "fetch_url": _keep_unless("b_fetch_url", "fetch_url"),
}
_RECORD_NOT_MODIFIED = (update(_FEEDS).where(_FEEDS.c.id == bindparam("b_id"))
                        .values(_SUCCESS_VALUES))
_RECORD_SUCCESS = _RECORD_NOT_MODIFIED.values(
    etag=_param("b_etag", "etag"), last_modified=_param("b_last_modified", "last_modified"),
    items_seen=_FEEDS.c.items_seen + bindparam("b_new_items", type_=Integer),
    title=_keep_unless("b_title", "title"),
    content_hash=_keep_unless("b_content_hash", "content_hash"),
    interval_seconds=_keep_unless("b_interval", "interval_seconds"),
)


def _success_params(
    feed_id: int, now: datetime, status: int, next_poll_at: datetime, fetch_url: str | None
) -> dict[str, Any]:
    return {"b_id": feed_id, "b_now": now, "b_status": status, "b_next": next_poll_at,
            "b_fetch_url": fetch_url or None}


def _prune_failures(feed_id: int, now: datetime) -> Delete:
    """Forget a feed's failures older than ``FAILURES_MAX_AGE`` or beyond the
    newest ``FAILURES_KEPT`` (one statement, on the feed's index)."""
    kept = (select(_FAILURES.c.id).where(_FAILURES.c.feed_id == feed_id)
            .order_by(_FAILURES.c.id.desc()).limit(FAILURES_KEPT))
    return delete(_FAILURES).where(
        _FAILURES.c.feed_id == feed_id,
        or_(_FAILURES.c.at < now - FAILURES_MAX_AGE, _FAILURES.c.id.not_in(kept.scalar_subquery())),
    )
