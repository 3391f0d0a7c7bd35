"""Ops notices kept until their channel took them: a dead letter, a disabled feed,
a refused configuration change.

The code that decides an ops notice (a new dead letter, a feed disabled)
writes one row per ops channel in the same transaction as the decision, so
a process killed right after it still leaves the notice to send (a refused
reload decides nothing in the database: ``OpsOutbox.add`` writes it alone). An ops
channel's thread *claims* a row just before sending it (a lease, one
conditional UPDATE: only one process ever sends it at a time), and marks it
sent once the channel took it; a dead letter's ``notified_at`` is set then.
A row left unsent (its process killed, its channel failing) is taken again
by any process with that channel once its lease has ended (``unsent``), up
to ``MAX_ATTEMPTS`` tries. A process killed between a send and its mark
sends that notice again: at most the one in flight per channel.

A notice of a channel no longer configured (ops replaced their Slack
webhook, say) is handed to the channels configured now (``reroute``): the
notice is what matters, not the channel it was first meant for (also one
the removed channel gave up on: a broken channel is often why it was
removed). Its row moves to the first configured channel that does not have
that notice yet, tries counted afresh, copies go to the others, and a row
every configured channel already has a copy of is dropped. Only rows left
unsent for ``REROUTE_AFTER`` move: a process whose configuration is a moment
behind (a worker before its next batch) must not take a channel just added
for one removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    String,
    Text,
    column,
    delete,
    insert,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.storage.database import Database
from service.storage.models import Base, BigId, UTCDateTime

LEASE = timedelta(minutes=5)  # a claimed notice is not taken by another process before
MAX_ATTEMPTS = 5  # a channel that refuses a notice this often: logged, given up
REROUTE_AFTER = timedelta(minutes=10)  # a removed channel's notice goes to the others after
# dead_letters' columns this module sets (its own module writes ops notices: no cycle)
_LETTERS = table("dead_letters", column("id", BigInteger()),
                 column("notified_at", UTCDateTime()))


class OpsMessageRow(Base):
    __tablename__ = "ops_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(128))  # the ops channel's key (no secret)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dead_letter_id: Mapped[int | None] = mapped_column(BigInteger)


@dataclass(frozen=True, slots=True)
class OpsNotice:
    """A notice to write, one row per ops channel (``channels``: their keys)."""

    subject: str
    body: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredNotice:
    id: int
    channel: str
    subject: str
    body: str


def add_notice(connection: Connection, notice: OpsNotice, now: datetime,
               dead_letter_id: int | None = None) -> list[StoredNotice]:
    """Write ``notice`` for each of its channels, in the caller's transaction."""
    stored = []
    for channel in notice.channels:
        row_id = connection.execute(
            insert(OpsMessageRow).values(channel=channel, subject=notice.subject,
                                         body=notice.body, created_at=now, attempts=0,
                                         dead_letter_id=dead_letter_id)
            .returning(OpsMessageRow.id)
        ).scalar_one()
        stored.append(StoredNotice(int(row_id), channel, notice.subject, notice.body))
    return stored


class OpsOutbox:
    def __init__(self, database: Database) -> None:
        self._db = database

    def claim(self, notice_id: int, now: datetime) -> bool:
        """True when this process may send the notice now (and no other for ``LEASE``)."""
        with self._db.engine.begin() as connection:
            result = connection.execute(
                update(OpsMessageRow)
                .where(OpsMessageRow.id == notice_id, OpsMessageRow.sent_at.is_(None),
                       _free(now))
                .values(lease_until=now + LEASE, attempts=OpsMessageRow.attempts + 1)
            )
            return bool(result.rowcount)

    def sent(self, notice_id: int, now: datetime) -> None:
        """The channel took it; a dead letter's ``notified_at`` says so from now."""
        with self._db.engine.begin() as connection:
            letter = connection.execute(
                update(OpsMessageRow).where(OpsMessageRow.id == notice_id)
                .values(sent_at=now, lease_until=None).returning(OpsMessageRow.dead_letter_id)
            ).scalar_one_or_none()
            if letter is not None:
                connection.execute(update(_LETTERS).where(
                    _LETTERS.c.id == letter, _LETTERS.c.notified_at.is_(None))
                    .values(notified_at=now))

    def add(self, notice: OpsNotice, now: datetime) -> list[StoredNotice]:
        """Write a notice that no other decision stores (a refused reload)."""
        with self._db.engine.begin() as connection:
            return add_notice(connection, notice, now)

    def reroute(self, channels: Iterable[str], now: datetime) -> list[Rerouted]:
        """Hand the unsent notices of channels not in ``channels`` (the configured
        ones) to those; what moved where (see the module's docstring)."""
        keys = sorted(set(channels))
        if not keys:
            return []
        moved: list[Rerouted] = []
        with self._db.engine.begin() as connection:
            for row in connection.execute(_orphans(keys, now)).all():
                moved.extend(_reroute(connection, row, keys, now))
        return moved

    def unsent(self, channels: Iterable[str], now: datetime) -> list[StoredNotice]:
        """Notices of these channels nobody is sending now, oldest first."""
        keys = sorted(set(channels))
        if not keys:
            return []
        query = (select(OpsMessageRow.id, OpsMessageRow.channel, OpsMessageRow.subject,
                        OpsMessageRow.body)
                 .where(OpsMessageRow.sent_at.is_(None), OpsMessageRow.channel.in_(keys),
                        OpsMessageRow.attempts < MAX_ATTEMPTS, _free(now))
                 .order_by(OpsMessageRow.id))
        with self._db.engine.connect() as connection:
            return [StoredNotice(int(i), c, s, b) for i, c, s, b in connection.execute(query)]


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(OpsMessageRow.lease_until.is_(None), OpsMessageRow.lease_until <= now)


@dataclass(frozen=True, slots=True)
class Rerouted:
    """A removed channel's notice: the channels it went to (none: they all had it)."""

    notice_id: int
    subject: str
    removed: str
    to: tuple[str, ...]


def _orphans(
    keys: list[str], now: datetime
) -> Select[int, str, str, str, datetime, int | None]:
    return (select(OpsMessageRow.id, OpsMessageRow.channel, OpsMessageRow.subject,
                   OpsMessageRow.body, OpsMessageRow.created_at, OpsMessageRow.dead_letter_id)
            .where(OpsMessageRow.sent_at.is_(None), OpsMessageRow.channel.not_in(keys),
                   OpsMessageRow.created_at <= now - REROUTE_AFTER, _free(now))
            .order_by(OpsMessageRow.id))


_Orphan = Row[int, str, str, str, datetime, int | None]


def _reroute(connection: Connection, row: _Orphan, keys: list[str], now: datetime
             ) -> list[Rerouted]:
    """Move one orphan row to the configured channels lacking its notice (or drop it)."""
    same = (OpsMessageRow.subject == row.subject, OpsMessageRow.body == row.body,
            OpsMessageRow.created_at == row.created_at)
    have = set(connection.scalars(select(OpsMessageRow.channel).where(*same)))
    missing = [key for key in keys if key not in have]
    mine = (OpsMessageRow.id == row.id, OpsMessageRow.channel == row.channel,
            OpsMessageRow.sent_at.is_(None), _free(now))  # not taken meanwhile
    if not missing:
        done = connection.execute(delete(OpsMessageRow).where(*mine)).rowcount
    else:
        done = connection.execute(update(OpsMessageRow).where(*mine).values(
            channel=missing[0], attempts=0, lease_until=None)).rowcount
        for key in missing[1:]:
            connection.execute(insert(OpsMessageRow).values(
                channel=key, subject=row.subject, body=row.body, created_at=row.created_at,
                attempts=0, dead_letter_id=row.dead_letter_id))
    return [Rerouted(row.id, row.subject, row.channel, tuple(missing))] if done else []
