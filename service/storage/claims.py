"""The stories a batch starts and joins, decided in memory and written at once.

Article by article, in order, a batch decides each article's story: the
oldest story owning one of its exact-copy keys, else that of a near copy (or,
opt-in, of an article about the same event), else a story of its own. Done
with statements, that was a story inserted per article, its keys inserted,
and for a copy the owners read, the keys moved, the story deleted and the
joined one counted: two to six statements per article, the largest storage
cost left once the rest was written per batch. Here the owners of every key
of the batch are read once (after the batch's locks are held, so no other
worker's claim on them is in flight); the keys claimed so far by the batch
are kept in memory; and the new stories, their keys and the counts of
joined stories are written in three statements at the end.

A story the batch starts has a provisional number (above any real id, so
"the oldest owner" still sorts right) until it is written. The same-event
lookup reads stories from the database, so the batch's new stories are
written before it runs (``flush``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update

from service.storage.batch_rows import insert_rows
from service.storage.listed import BigintArray, Bind, in_listed
from service.storage.models import StoryKeyRow, StoryRow

PROVISIONAL = 1 << 62  # story numbers from here on are the batch's own, not written yet
_CHUNK = 500
_STORIES_POSTGRES = (
    "INSERT INTO stories (first_article_id, created_at, updated_at, article_count) "
    "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::int[]) "
    "RETURNING id, first_article_id"
)


@dataclass
class _NewStory:
    first_article_id: int
    created_at: datetime
    updated_at: datetime
    article_count: int = 1


class StoryClaims:
    """Owners of exact-copy keys, and the batch's claims, until ``write``."""

    def __init__(self, connection: Connection, keys: Iterable[str]) -> None:
        self._connection = connection
        self._owner = _owners(connection, sorted(set(keys)))  # key -> story
        self._claimed: dict[str, int] = {}  # keys the batch claims -> story
        self._pending: dict[int, _NewStory] = {}  # provisional number -> story to write
        self._written: dict[int, int] = {}  # provisional number -> id
        self._joined: dict[int, tuple[int, datetime]] = {}  # id -> (articles, last time)

    def owner(self, keys: Sequence[str]) -> int | None:
        """The oldest story owning one of ``keys`` (written or the batch's own)."""
        owners = {self._owner[key] for key in keys if key in self._owner}
        return min(owners) if owners else None

    def start(self, article_id: int, keys: Sequence[str], now: datetime) -> int:
        """A new story for this article; its (provisional) number."""
        story = PROVISIONAL + len(self._pending) + len(self._written)
        self._pending[story] = _NewStory(article_id, now, now)
        self._claim(keys, story)
        return story

    def join(self, story: int, keys: Sequence[str], now: datetime) -> None:
        """The article joins ``story``; its keys nobody owns become the story's."""
        self._claim(keys, story)
        pending = self._pending.get(story)
        if pending is not None:
            pending.article_count += 1
            pending.updated_at = max(pending.updated_at, now)
            return
        real = self.resolve(story)
        count, last = self._joined.get(real, (0, now))
        self._joined[real] = (count + 1, max(last, now))

    def resolve(self, story: int) -> int:
        """The story's id (once written)."""
        return self._written.get(story, story)

    def flush(self) -> None:
        """Write the new stories so far (ids for their provisional numbers)."""
        if not self._pending:
            return
        numbers = {s.first_article_id: n for n, s in self._pending.items()}
        for story_id, first in _insert_stories(self._connection, list(self._pending.values())):
            self._written[numbers[first]] = story_id
        self._pending.clear()

    def write(self) -> None:
        """Write the new stories, the keys the batch claimed, and the joined counts."""
        self.flush()
        keys: Table = StoryKeyRow.__table__  # type: ignore[assignment]
        insert_rows(self._connection, keys, [
            {"key": key, "story_id": self.resolve(story)}
            for key, story in sorted(self._claimed.items())])
        if self._joined:
            self._connection.execute(_join_statement(), [
                {"target": story, "joined": count, "now": now}
                for story, (count, now) in sorted(self._joined.items())])

    def _claim(self, keys: Sequence[str], story: int) -> None:
        for key in keys:
            if key not in self._owner:
                self._owner[key] = self._claimed[key] = story


def _insert_stories(connection: Connection, stories: list[_NewStory]) -> list[Any]:
    """Insert the stories; (id, first article) of each. On PostgreSQL one array per
    column: SQLAlchemy's multi-row VALUES for a batch's stories was a statement too
    long for psycopg's cache, parsed again by the client and the server each batch."""
    if connection.dialect.name == "postgresql":
        return list(connection.exec_driver_sql(_STORIES_POSTGRES, (
            BigintArray(s.first_article_id for s in stories), [s.created_at for s in stories],
            [s.updated_at for s in stories], BigintArray(s.article_count for s in stories))))
    table: Table = StoryRow.__table__  # type: ignore[assignment]
    rows = [{"first_article_id": s.first_article_id, "created_at": s.created_at,
             "updated_at": s.updated_at, "article_count": s.article_count} for s in stories]
    statement = table.insert().returning(table.c.id, table.c.first_article_id)
    return [row for start in range(0, len(rows), _CHUNK)
            for row in connection.execute(statement, rows[start : start + _CHUNK])]


def _owners(connection: Connection, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    query, bind = _owners_query(connection.dialect.name)
    return {key: story for key, story in connection.execute(query, {"keys": bind(keys)})}


@lru_cache(maxsize=2)
def _owners_query(dialect: str) -> tuple[Any, Bind]:
    condition, bind = in_listed(dialect, StoryKeyRow.key, "keys", text=True)
    return select(StoryKeyRow.key, StoryKeyRow.story_id).where(condition), bind


@lru_cache(maxsize=1)
def _join_statement() -> Any:
    stories: Table = StoryRow.__table__  # type: ignore[assignment]
    return (update(stories).where(stories.c.id == bindparam("target"))
            .values(article_count=stories.c.article_count + bindparam("joined"),
                    updated_at=bindparam("now")))

