"""Retention: the text of old articles is dropped, their rows stay.

An article's text (summary, content, the page's main text) is most of what
the database holds for it (several KB against a few hundred bytes for the
rest): at 10,000 feeds that is gigabytes a week, for months. Once an article
is processed its text serves only backtests; stories, matches with their
evidence sentences, alerts and the near-copy sketches keep what alerts need.
So after ``retention.article_text`` the text is blanked and the row kept:
its GUID, canonical URL and story still make a re-poll or a re-post of it a
copy, never a new alert (deleting rows would lose that). Unprocessed
articles are left alone.

Work goes in batches in id order from a watermark the store keeps, so each
pass reads only the rows it has not already looked at (the first pass of a
process walks the older rows once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import takewhile

from sqlalchemy import or_, select, update

from service.storage.database import Database
from service.storage.models import ArticleRow

BATCH = 1000


class ArticleTextRetention:
    """Blanks the text of processed articles fetched before a time, a batch at a time."""

    def __init__(self, database: Database, batch: int = BATCH) -> None:
        self._db = database
        self._batch = batch
        self._after = 0  # every article up to this id is done with

    def compact_batch(self, before: datetime) -> tuple[int, bool]:
        """Blank the text of the next batch of articles fetched before ``before``:
        how many were blanked, and whether more old ones may follow."""
        with self._db.session() as session:
            rows = session.execute(
                select(ArticleRow.id, ArticleRow.fetched_at, ArticleRow.state)
                .where(ArticleRow.id > self._after)
                .order_by(ArticleRow.id)
                .limit(self._batch)
            ).all()
            # ids follow arrival: the first young article ends the pass (looked at again
            # next time); one still unprocessed is passed over and keeps its text
            old = list(takewhile(lambda row: row.fetched_at < before, rows))
            done = [row.id for row in old if row.state != "new"]
            blanked = 0
            if done:
                result = session.execute(
                    update(ArticleRow)
                    .where(ArticleRow.id.in_(done), _HAS_TEXT)
                    .values(summary="", content="", full_text=None)
                )
                blanked = int(getattr(result, "rowcount", 0) or 0)  # an UPDATE: CursorResult
                session.commit()
        if old:
            self._after = old[-1].id
        return blanked, len(old) == len(rows) == self._batch

    def compact(
        self, before: datetime, *, stopping: Callable[[], bool] = lambda: False,
        progress: Callable[[int], None] = lambda total: None,
    ) -> int:
        """Batch after batch until the young articles (or ``stopping()``); how many
        were blanked (``progress`` hears the running total after each batch)."""
        total, more = 0, True
        while more and not stopping():
            blanked, more = self.compact_batch(before)
            total += blanked
            progress(total)
        return total


_HAS_TEXT = or_(
    ArticleRow.summary != "", ArticleRow.content != "", ArticleRow.full_text.is_not(None)
)
