"""The alert outbox: claim what is due, mark sent only after success.

Rows are written by ``ArticleStore.commit_batch`` in the transaction of
their match. A sender *claims* due rows by setting their ``not_before`` one
lease ahead in a single ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING id`` (PostgreSQL; SQLite serialises writers), so two
senders never send the same alert, and a sender that dies mid-send only
delays it by the lease. Two times gate a row: ``next_attempt_at`` is the
schedule (backoff, quiet hours), which ``run --once`` may bring forward
(``ignore_schedule``); ``not_before`` (a lease, a service's Retry-After) is
never crossed. The outcome (sent, failed with backoff, dead) is
recorded afterwards; the digest flag and per-subscription digest state live
here too.

A sender marks each sent alert right after its send (``Marks``): one small
UPDATE on a connection it holds for its pass, in autocommit (one round trip,
no BEGIN/COMMIT), the statement compiled once; so a sender killed after a
send re-sends at most the alert that was in flight. On PostgreSQL that
connection commits with ``synchronous_commit = off``: a mark does not wait
for the WAL flush (~4 ms here, more CPU than the send's own work). A sender
killed after its mark returned never sends that alert again; only a crash of
the database server itself may forget the marks of its last moments
(3 x ``wal_writer_delay``, 0.6 s by default), whose alerts then go out again
when their lease ends: a double, never a loss. Outcomes that sent nothing
(held, to a digest, deferred) are recorded together at the end of a claim batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Table,
    Update,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.domain import Evidence, Match, MatchKind
from service.storage.database import Database
from service.storage.models import AlertRow, ArticleRow, FeedRow, MatchRow, SubscriptionStateRow
from service.storage.ops_messages import OpsNotice, StoredNotice, add_notice
from service.storage.records import AlertSummary, AlertView
from service.urls import shown_url

LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PendingAlert:
    subscription_id: str
    digest: bool
    attempts: int
    created_at: datetime
    next_at: datetime  # the earliest it may go out (schedule, lease, Retry-After)


@dataclass(frozen=True, slots=True)
class Sent:
    alert_id: int
    at: datetime
    delivered: tuple[int, ...]  # the channels that took it


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not tried now: a channel asked to wait (pacing, Retry-After); no attempt counted."""

    alert_id: int
    until: datetime
    delivered: tuple[int, ...]  # the channels that did take it meanwhile
    reason: str


@dataclass
class Outcomes:
    """What a sender decided for claimed alerts, recorded together (``AlertStore.record``)."""

    sent: list[Sent] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    held: list[tuple[int, datetime]] = field(default_factory=list)  # (alert, quiet until)
    digested: list[tuple[int, datetime]] = field(default_factory=list)  # (alert, when)

    def __len__(self) -> int:
        return len(self.sent) + len(self.deferred) + len(self.held) + len(self.digested)


_TABLE: Table = AlertRow.__table__  # type: ignore[assignment]  # Core, for executemany
_ID: BindParameter[int] = bindparam("b_id")
_PENDING = AlertRow.state == "pending"
# One statement per kind of outcome, executed once with the parameters of every
# alert (executemany): the cost of recording is one round trip per batch, not
# per alert. Only a pending row changes (a sent or dead one stays as it is).
_MARK_SENT = (update(_TABLE).where(AlertRow.id == _ID)
              .values(state="sent", sent_at=bindparam("b_at"),
                      delivered=bindparam("b_delivered"), attempts=AlertRow.attempts + 1,
                      last_error=None, not_before=None))
# A digest's alerts, marked together (one statement: one message, all or none).
_MARK_ALL_SENT = (update(_TABLE).where(AlertRow.id.in_(bindparam("b_ids", expanding=True)))
                  .values(state="sent", sent_at=bindparam("b_at"),
                          delivered=bindparam("b_delivered"), attempts=AlertRow.attempts + 1,
                          last_error=None, not_before=None))
_DEFER = (update(_TABLE).where(AlertRow.id == _ID, _PENDING)
          .values(delivered=bindparam("b_delivered"), next_attempt_at=bindparam("b_until"),
                  not_before=bindparam("b_until"), last_error=bindparam("b_reason")))
_HOLD = (update(_TABLE).where(AlertRow.id == _ID, _PENDING)
         .values(next_attempt_at=bindparam("b_until"), not_before=None))
# What a view needs of an alert row (a claim returns these; no ORM objects).
_VIEW_COLUMNS = (AlertRow.id, AlertRow.subscription_id, AlertRow.story_id, AlertRow.article_id,
                 AlertRow.attempts, AlertRow.delivered, AlertRow.created_at, AlertRow.digest,
                 AlertRow.accepted)
_TO_DIGEST = (update(_TABLE).where(AlertRow.id == _ID, _PENDING)
              .values(digest=True, next_attempt_at=bindparam("b_until"), not_before=None))


def _evidence(data: dict[str, Any]) -> Evidence:
    spans = tuple((int(s[0]), int(s[1])) for s in data.get("spans", []))
    return Evidence(field=str(data["field"]), sentence=str(data["sentence"]), spans=spans)


def _match(row: Any) -> Match:
    """A match from a ``MatchRow`` (or a row of its columns)."""
    kind: MatchKind = row.kind
    return Match(
        kind=kind, id=row.ref_id, name=row.name,
        evidence=tuple(_evidence(e) for e in row.evidence),
        participants=tuple(row.participants),
    )


class AlertStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def claim(
        self, now: datetime, *, digest: bool = False, subscription_id: str | None = None,
        limit: int = 100, ignore_schedule: bool = False, lease: timedelta = LEASE,
        after: int = 0,
    ) -> list[AlertView]:
        """Claim pending alerts that are due (also those backing off if asked) for one
        lease, in id order.

        ``ignore_schedule`` brings ``next_attempt_at`` forward, never ``not_before``.
        ``after``: only ids above it (a pass goes on from its last claim, so that
        with ``ignore_schedule`` it does not take what it handled again and undo
        their schedule).
        """
        with self._db.session() as session, session.begin():
            due = select(AlertRow.id).where(AlertRow.state == "pending",
                                            AlertRow.digest == digest, _not_held_back(now))
            if not ignore_schedule:
                due = due.where(AlertRow.next_attempt_at <= now)
            if subscription_id is not None:
                due = due.where(AlertRow.subscription_id == subscription_id)
            if after:
                due = due.where(AlertRow.id > after)
            due = due.order_by(AlertRow.id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = session.execute(
                update(_TABLE).where(AlertRow.id.in_(due.scalar_subquery()))
                .values(not_before=now + lease).returning(*_VIEW_COLUMNS)
            ).all()
            return _views(session, sorted(claimed, key=lambda row: int(row.id)))

    def due(
        self, now: datetime, *, limit: int = 100, ignore_schedule: bool = False
    ) -> list[AlertView]:
        """Pending instant alerts that are due, without claiming them (read only)."""
        with self._db.session() as session:
            query = select(AlertRow).where(AlertRow.state == "pending", AlertRow.digest.is_(False),
                                           _not_held_back(now))
            if not ignore_schedule:
                query = query.where(AlertRow.next_attempt_at <= now)
            rows = session.scalars(query.order_by(AlertRow.id).limit(limit)).all()
            return _views(session, rows)

    def record(self, outcomes: Outcomes) -> None:
        """Record what was decided for these alerts: one transaction, one statement per kind."""
        batches = _statements(outcomes)
        if not batches:
            return
        with self._db.session() as session, session.begin():
            connection = session.connection()
            for statement, rows in batches:
                connection.execute(statement, rows)

    @contextmanager
    def marking(self) -> Iterator[Marks]:
        """A connection held for a sender's pass, to mark each send as it comes."""
        with self._db.engine.connect() as pooled:
            connection = pooled.execution_options(isolation_level="AUTOCOMMIT")
            if connection.dialect.name != "postgresql":
                yield Marks(connection)
                return
            connection.exec_driver_sql("SET synchronous_commit TO off")
            try:
                yield Marks(connection)
            finally:
                try:  # the pooled connection goes back as it came
                    connection.exec_driver_sql("RESET synchronous_commit")
                except SQLAlchemyError:
                    connection.invalidate()

    def mark_sent(
        self, alert_ids: Sequence[int], now: datetime, delivered: Sequence[int]
    ) -> None:
        self.record(Outcomes(sent=[Sent(i, now, tuple(delivered)) for i in alert_ids]))

    def mark_failed(
        self, alert_id: int, *, error: str, delivered: Sequence[int],
        next_attempt_at: datetime, max_attempts: int, not_before: datetime | None = None,
        notice: OpsNotice | None = None, now: datetime | None = None,
        accepted: Iterable[tuple[int, str, str]] = (),
    ) -> list[StoredNotice] | None:
        """Record a failed attempt: pending again later, or dead after the last one.

        ``not_before``: the service asked not to be tried before then (Retry-After).
        ``accepted``: the recipients that took it on channels that failed for others.
        When this attempt dead-lettered the alert (exactly once): ``notice`` for ops
        stored with it (as of ``now``), and the stored notices returned (empty without
        one); else None.
        """
        with self._db.session() as session, session.begin():
            row = session.get_one(AlertRow, alert_id, with_for_update=True)
            if row.state != "pending":
                return None
            row.attempts += 1
            row.last_error = error
            row.delivered = list(delivered)
            row.accepted = [list(r) for r in sorted(accepted)] or None
            row.next_attempt_at = next_attempt_at
            row.not_before = not_before
            row.state = "dead" if row.attempts >= max_attempts else "pending"
            if row.state != "dead":
                return None
            if notice is None:
                return []
            session.flush()
            return add_notice(session.connection(), notice, now or next_attempt_at)

    def defer(
        self, alert_ids: Sequence[int], delivered: Sequence[int], until: datetime, reason: str
    ) -> None:
        """Not tried now: a channel asked to wait until ``until``; no attempt counted.

        ``delivered``: the channels that did take it meanwhile (not sent to again).
        """
        self.record(Outcomes(deferred=[Deferred(i, until, tuple(delivered), reason)
                                       for i in alert_ids]))

    def hold(self, alert_ids: Sequence[int], until: datetime) -> None:
        """Put alerts back until ``until`` (quiet hours), without counting an attempt."""
        self.record(Outcomes(held=[(i, until) for i in alert_ids]))

    def digest_backlog(
        self, now: datetime, *, ignore_schedule: bool = False
    ) -> dict[str, datetime]:
        """Subscriptions with digest alerts ready to go, and their oldest alert's time."""
        with self._db.session() as session:
            query = (
                select(AlertRow.subscription_id, func.min(AlertRow.created_at))
                .where(AlertRow.state == "pending", AlertRow.digest.is_(True),
                       _not_held_back(now))
                .group_by(AlertRow.subscription_id)
            )
            if not ignore_schedule:
                query = query.where(AlertRow.next_attempt_at <= now)
            return {sub: oldest for sub, oldest in session.execute(query)}

    def pending(self) -> list[PendingAlert]:
        """Every pending alert's schedule (for what a run leaves for later)."""
        with self._db.session() as session:
            query = select(AlertRow.subscription_id, AlertRow.digest, AlertRow.attempts,
                           AlertRow.created_at, AlertRow.next_attempt_at, AlertRow.not_before
                           ).where(AlertRow.state == "pending")
            return [
                PendingAlert(subscription_id=sub, digest=digest, attempts=attempts,
                             created_at=created, next_at=max(next_at, not_before or next_at))
                for sub, digest, attempts, created, next_at, not_before in session.execute(query)
            ]

    def sent_instantly_since(self, subscription_id: str, since: datetime) -> int:
        with self._db.session() as session:
            query = select(func.count()).where(
                AlertRow.subscription_id == subscription_id, AlertRow.state == "sent",
                AlertRow.digest.is_(False), AlertRow.sent_at > since,
            )
            return int(session.scalar(query) or 0)

    def last_digest_at(self, subscription_id: str) -> datetime | None:
        with self._db.session() as session:
            row = session.get(SubscriptionStateRow, subscription_id)
            return row.last_digest_at if row else None

    def record_digest(self, subscription_id: str, now: datetime) -> None:
        with self._db.session() as session, session.begin():
            row = session.get(SubscriptionStateRow, subscription_id, with_for_update=True)
            if row is None:
                session.add(SubscriptionStateRow(subscription_id=subscription_id,
                                                 last_digest_at=now))
            else:
                row.last_digest_at = now

    def recent(self, since: datetime, limit: int = 500) -> list[AlertSummary]:
        with self._db.session() as session:
            query = (
                select(AlertRow, ArticleRow, FeedRow)
                .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
                .join(FeedRow, FeedRow.id == ArticleRow.feed_id)
                .where(or_(AlertRow.created_at >= since, AlertRow.state == "pending"))
                .order_by(AlertRow.id.desc())
                .limit(limit)
            )
            return [
                AlertSummary(
                    id=a.id, subscription_id=a.subscription_id, state=a.state,
                    attempts=a.attempts, created_at=a.created_at, sent_at=a.sent_at,
                    last_error=a.last_error, title=art.title, source=_outlet(feed),
                    next_attempt_at=max(a.next_attempt_at, a.not_before or a.next_attempt_at),
                    digest=a.digest,
                )
                for a, art, feed in session.execute(query)
            ]


class Marks:
    """Sends marked at once on one held autocommit connection (``AlertStore.marking``)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def sent(self, alert_ids: Sequence[int], at: datetime, delivered: Sequence[int]) -> None:
        """Every channel took the message of these alerts (one, or a digest's): sent, now."""
        if len(alert_ids) == 1:
            self._connection.execute(_MARK_SENT, {"b_id": alert_ids[0], "b_at": at,
                                                  "b_delivered": list(delivered)})
        else:
            self._connection.execute(_MARK_ALL_SENT, {"b_ids": list(alert_ids), "b_at": at,
                                                      "b_delivered": list(delivered)})

    def deferred(self, deferred: Deferred) -> None:
        """Some channels took it, the others asked to wait: who took it, now."""
        self._connection.execute(_DEFER, {"b_id": deferred.alert_id, "b_until": deferred.until,
                                          "b_reason": deferred.reason,
                                          "b_delivered": list(deferred.delivered)})


def _statements(outcomes: Outcomes) -> list[tuple[Update, list[dict[str, Any]]]]:
    """The statements recording ``outcomes`` and their parameters, kinds that have any."""
    batches: list[tuple[Update, list[dict[str, Any]]]] = [
        (_MARK_SENT, [{"b_id": s.alert_id, "b_at": s.at, "b_delivered": list(s.delivered)}
                      for s in outcomes.sent]),
        (_DEFER, [{"b_id": d.alert_id, "b_until": d.until, "b_reason": d.reason,
                   "b_delivered": list(d.delivered)} for d in outcomes.deferred]),
        (_HOLD, [{"b_id": i, "b_until": until} for i, until in outcomes.held]),
        (_TO_DIGEST, [{"b_id": i, "b_until": at} for i, at in outcomes.digested]),
    ]
    return [(statement, rows) for statement, rows in batches if rows]


def _not_held_back(now: datetime) -> ColumnElement[bool]:
    """Rows no lease or Retry-After holds back at ``now``."""
    return or_(AlertRow.not_before.is_(None), AlertRow.not_before <= now)


def _outlet(feed: FeedRow) -> str:
    return feed.name or feed.title or feed.url


def _outlet_of(name: str | None, title: str | None, url: str) -> str:
    return name or title or shown_url(url)


def _views(session: Session, alerts: Sequence[Any]) -> list[AlertView]:
    """The alerts (rows with ``_VIEW_COLUMNS``) with their article, outlet, matches and
    other outlets: one query each for the whole claim, not four per alert, and only
    the columns a message uses (an article's text is not read)."""
    if not alerts:
        return []
    article_ids = sorted({a.article_id for a in alerts})
    articles = {row.id: row for row in session.execute(
        select(ArticleRow.id, ArticleRow.title, ArticleRow.url, ArticleRow.published_at,
               ArticleRow.fetched_at, FeedRow.id.label("feed_id"), FeedRow.name,
               FeedRow.title.label("feed_title"), FeedRow.url.label("feed_url"))
        .join(FeedRow, FeedRow.id == ArticleRow.feed_id).where(ArticleRow.id.in_(article_ids)))}
    matches: dict[int, list[Match]] = {}
    for row in session.execute(
            select(MatchRow.article_id, MatchRow.kind, MatchRow.ref_id, MatchRow.name,
                   MatchRow.evidence, MatchRow.participants)
            .where(MatchRow.article_id.in_(article_ids)).order_by(MatchRow.id)):
        matches.setdefault(row.article_id, []).append(_match(row))
    outlets = _outlets_of(session, sorted({a.story_id for a in alerts}))
    views = []
    for alert in alerts:
        article = articles[alert.article_id]
        others = {name for feed_id, name in outlets.get(alert.story_id, ())
                  if feed_id != article.feed_id}
        views.append(AlertView(
            id=alert.id, subscription_id=alert.subscription_id, story_id=alert.story_id,
            attempts=alert.attempts, delivered=tuple(alert.delivered), title=article.title,
            url=article.url, source=_outlet_of(article.name, article.feed_title, article.feed_url),
            published_at=article.published_at, matches=tuple(matches.get(article.id, ())),
            other_outlets=tuple(sorted(others)), created_at=alert.created_at, digest=alert.digest,
            seen_at=article.fetched_at,
            accepted=frozenset((int(i), str(to), str(r)) for i, to, r in alert.accepted or ()),
        ))
    return views


def _outlets_of(session: Session, story_ids: list[int]) -> dict[int, set[tuple[int, str]]]:
    """story id -> {(feed id, outlet name)} of the feeds that carried it."""
    query = (
        select(ArticleRow.story_id, FeedRow.id, FeedRow.name, FeedRow.title, FeedRow.url)
        .join(FeedRow, FeedRow.id == ArticleRow.feed_id)
        .where(ArticleRow.story_id.in_(story_ids))
        .distinct()
    )
    found: dict[int, set[tuple[int, str]]] = {}
    for story_id, feed_id, name, title, url in session.execute(query):
        if story_id is not None:
            found.setdefault(story_id, set()).add((feed_id, _outlet_of(name, title, url)))
    return found
