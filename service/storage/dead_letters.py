"""Dead letters: work given up on after too many tries, kept for ops to see.

A poison article (one whose processing keeps failing) is moved here once,
with its last error; the ops notice about it is written in the same
transaction (``ops_messages``) and ``notified_at`` is set once an ops
channel took it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from service.storage.database import Database, insert_ignore
from service.storage.models import ArticleRow, Base, BigId, UTCDateTime
from service.storage.ops_messages import OpsNotice, StoredNotice, add_notice


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("kind", "ref_id", name="uq_dead_letters_kind_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # article
    ref_id: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    kind: str
    ref_id: int
    error: str
    attempts: int
    created_at: datetime
    notified_at: datetime | None


def _letter(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(row.id, row.kind, row.ref_id, row.error, row.attempts, row.created_at,
                      row.notified_at)


class DeadLetterStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def dead_letter_article(
        self, article_id: int, *, error: str, attempts: int, now: datetime,
        notice: OpsNotice | None = None,
    ) -> tuple[DeadLetter, list[StoredNotice]] | None:
        """Move a poison article aside, and write ``notice`` (for ops) with it; the new
        dead letter and the notices to send, or None if it already was. With no ops
        channel to tell, ``notified_at`` is now (ops learn it from the log)."""
        with self._db.session() as session, session.begin():
            session.execute(
                update(ArticleRow).where(ArticleRow.id == article_id)
                .values(state="dead", processed_at=now)
            )
            inserted = session.execute(
                insert_ignore(session, DeadLetterRow.__table__)  # type: ignore[arg-type]
                .values(kind="article", ref_id=article_id, error=error, attempts=attempts,
                        created_at=now)
                .returning(DeadLetterRow.id)
            ).scalar_one_or_none()
            if inserted is None:
                return None
            stored = []
            if notice is not None and notice.channels:
                stored = add_notice(session.connection(), notice, now, dead_letter_id=inserted)
            else:
                session.execute(update(DeadLetterRow).where(DeadLetterRow.id == inserted)
                                .values(notified_at=now))
            return _letter(session.get_one(DeadLetterRow, inserted)), stored

    def all(self, limit: int = 500) -> list[DeadLetter]:
        with self._db.session() as session:
            rows = session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id.desc())
                                   .limit(limit))
            return [_letter(row) for row in rows]



