"""The rows a batch writes besides its stories: one statement per table.

Claiming a story has to go article by article (a later article of the batch
may join the story an earlier one started); what follows does not. Written
per article, an article's index bands, sketch, state, matches and outbox rows
cost six statements, and the 64 band keys of each article went through
SQLAlchemy's parameter processing row by row: profiled, more than half of the
storage cost. Here the whole batch's rows of each table go in one statement
(band keys straight to the driver: an executemany on SQLite, a binary COPY
on PostgreSQL). Every insert ignores a row already there, so a batch stored
twice still writes nothing twice; the band rows, copied on PostgreSQL, are
written only for articles still new, whose rows the batch holds locked.

They come in two groups, by when the batch can write them:

- ``write_indexed``: each article's sketch, band keys and matches, keyed by
  the article alone and independent of its story, written *before* the batch
  takes its claim locks (the band keys were the largest write under them).
  Nobody else sees them before the batch commits, and the batch has read the
  index before writing them.
- ``write_claimed``: each article's story and state, and the outbox rows
  (unique per subscription and story), once its story is decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from service.domain import Match
from service.storage.array_insert import insert_arrays, plan_for
from service.storage.event_index import event_blob
from service.storage.listed import BigintArray
from service.storage.models import AlertRow, ArticleRow, ArticleSketchRow, MatchRow
from service.storage.stories import (
    SketchedArticle,
    encode_bands,
    encode_sketch,
    unique_bands,
)

_CHUNK = 500  # rows per multi-row statement
# The batch's article rows, already locked, updated by one statement per form on
# PostgreSQL (an executemany ran one UPDATE per article: its executor start-up and
# parameters each time); each row found through the primary key.
_STATES_SET = ("UPDATE articles AS a SET story_id = v.story, state = v.state, "
               "processed_at = v.at, last_error = NULL")
_STATES_ARRAYS = "%s::bigint[], %s::bigint[], %s::text[], %s::timestamptz[]"
_STATES = (
    f"{_STATES_SET} FROM unnest({_STATES_ARRAYS}) AS v(id, story, state, at) WHERE a.id = v.id",
    f"{_STATES_SET}, language = v.language, full_text = v.full_text, "
    f"full_text_error = v.error FROM unnest({_STATES_ARRAYS}, %s::text[], %s::text[], "
    "%s::text[]) AS v(id, story, state, at, language, full_text, error) WHERE a.id = v.id",
)
_STATE_KEYS = (("article", "p_story", "p_state", "p_now"),
               ("article", "p_story", "p_state", "p_now", "p_language", "p_full_text",
                "p_full_text_error"))
_BANDS_SQLITE = "INSERT OR IGNORE INTO story_bands (band, article_id) VALUES (?, ?)"
_BANDS_POSTGRES = "COPY story_bands (band, article_id) FROM STDIN (FORMAT BINARY)"
# PostgreSQL's binary COPY: a signature, flags and extension length, the rows
# (field count, then each field's length and big-endian value), -1
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_COPY_ROW = np.dtype([("fields", ">i2"), ("band_size", ">i4"), ("band", ">i8"),
                      ("article_size", ">i4"), ("article", ">i8")])


@dataclass(frozen=True, slots=True)
class Indexed:
    """One article of the batch with what it brings whatever its story."""

    article_id: int
    now: datetime
    near: SketchedArticle | None
    matches: Sequence[Match]


@dataclass(frozen=True, slots=True)
class Claimed:
    """One article of the batch with the story it started or joined."""

    article_id: int
    story_id: int
    duplicate: bool
    now: datetime
    state: dict[str, object]  # the article row's new values (see ``article_values``)
    subscription_ids: Sequence[str]


def write_indexed(connection: Connection, indexed: Sequence[Indexed]) -> None:
    """Write the batch's sketches, band keys and matches (before its claim locks)."""
    _write_sketches(connection, indexed)
    _write_matches(connection, indexed)


def write_claimed(connection: Connection, claimed: Sequence[Claimed]) -> Counter[int]:
    """Write the batch's article states and outbox rows; new outbox rows per article."""
    _write_states(connection, claimed)
    return _write_alerts(connection, claimed)


def insert_ignore(dialect: str, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, built once per table and dialect."""
    return _insert_ignore(dialect, table)


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert-or-ignore ``rows`` (dicts with the same columns).

    On PostgreSQL one array per column (``array_insert``) when the columns are
    plain. Otherwise as multi-row VALUES statements: with RETURNING, SQLAlchemy
    turns an executemany into batches of multi-row VALUES ("insertmanyvalues");
    without it psycopg 3 sends one statement per row.
    """
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        plan = plan_for(table, tuple(rows[0]))
        if plan is not None:
            insert_arrays(connection, plan, rows)
            return
    for start in range(0, len(rows), _CHUNK):
        statement = _insert_returning_key(connection.dialect.name, table)
        connection.execute(statement, rows[start : start + _CHUNK]).all()


@lru_cache(maxsize=32)
def _insert_ignore(dialect: str, table: Any) -> Any:
    """Built once per table: building a statement costs more than running it on SQLite."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


@lru_cache(maxsize=32)
def _insert_returning_key(dialect: str, table: Any) -> Any:
    return _insert_ignore(dialect, table).returning(next(iter(table.primary_key.columns)))


def _write_sketches(connection: Connection, batch: Sequence[Indexed]) -> None:
    """Each indexed article's shingles (for the exact check) and band keys (its
    sketch row keeps them too: how pruning and catch-up find its band rows)."""
    indexed = {c.article_id: (c, unique_bands(c.near.sketch)) for c in batch
               if c.near is not None and not c.near.sketch.empty}
    sketches: Table = ArticleSketchRow.__table__  # type: ignore[assignment]
    insert_rows(connection, sketches, [
        {"article_id": article, "shingles": encode_sketch(near.sketch), "created_at": c.now,
         "event": event_blob(near.vector), "bands": encode_bands(bands)}
        for article, (c, bands) in indexed.items() if (near := c.near) is not None
    ])
    bands, articles = _band_rows({article: bands for article, (_, bands) in indexed.items()})
    if not len(bands):
        return
    if connection.dialect.name == "postgresql":
        _copy_bands(connection, bands, articles)
    else:
        connection.exec_driver_sql(_BANDS_SQLITE, list(zip(bands.tolist(), articles.tolist(),
                                                           strict=True)))


def _band_rows(per_article: dict[int, npt.NDArray[np.int64]]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The (band, article) pairs of the batch (each article's keys are unique), sorted."""
    if not per_article:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    bands = np.concatenate(list(per_article.values()))
    articles = np.repeat(np.fromiter(per_article, dtype=np.int64, count=len(per_article)),
                         [len(keys) for keys in per_article.values()])
    order = np.lexsort((articles, bands))
    return bands[order], articles[order]


def _copy_bands(connection: Connection, bands: npt.NDArray[np.int64],
                articles: npt.NDArray[np.int64]) -> None:
    """The band rows by binary COPY (PostgreSQL).

    Measured against ``INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING``:
    about a third less server CPU and WAL per row. COPY writes the heap a page
    at a time, and it skips the conflict handling, which checked the primary
    key before each row and logged a confirmation after it. No row can be
    there already: the batch holds its articles' rows locked and writes bands
    only for articles still new, in the transaction that marks them processed.
    """
    rows = np.empty(len(bands), dtype=_COPY_ROW)
    rows["fields"], rows["band_size"], rows["article_size"] = 2, 8, 8
    rows["band"], rows["article"] = bands, articles
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(_BANDS_POSTGRES) as copy:
        copy.write(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)


def article_values(
    article_id: int, story_id: int, duplicate: bool, now: datetime,
    text: tuple[str | None, str | None, str | None] | None = None,
) -> dict[str, object]:
    """The article row's values once stored; ``text``: its language, page text and
    page error, when the worker looked at them (else those columns are left alone)."""
    values: dict[str, object] = {
        "article": article_id, "p_story": story_id, "p_now": now,
        "p_state": "duplicate" if duplicate else "processed",
    }
    if text is not None:
        values.update(zip(("p_language", "p_full_text", "p_full_text_error"), text,
                          strict=True))
    return values


def _write_states(connection: Connection, claimed: Sequence[Claimed]) -> None:
    """Every article processed (or a duplicate) with its story: one statement per form
    (an executemany on SQLite; on PostgreSQL one array per column, see ``_STATES``)."""
    plain = [c.state for c in claimed if "p_language" not in c.state]
    analysed = [c.state for c in claimed if "p_language" in c.state]
    postgres = connection.dialect.name == "postgresql"
    statements = _article_statements()
    for n, (statement, rows) in enumerate(((statements[0], plain), (statements[1], analysed))):
        if rows and postgres:
            connection.exec_driver_sql(_STATES[n], _state_arrays(rows, _STATE_KEYS[n]))
        elif rows:
            connection.execute(statement, rows)


def _state_arrays(rows: list[dict[str, object]], keys: tuple[str, ...]) -> tuple[object, ...]:
    ids, stories, *rest = ([row[key] for row in rows] for key in keys)
    return (BigintArray(cast(list[int], ids)), BigintArray(cast(list[int], stories)), *rest)


@lru_cache(maxsize=1)
def _article_statements() -> tuple[Any, Any]:
    articles: Table = ArticleRow.__table__  # type: ignore[assignment]
    done = update(articles).where(articles.c.id == bindparam("article")).values(
        story_id=bindparam("p_story"), state=bindparam("p_state"),
        processed_at=bindparam("p_now"), last_error=None)
    with_text = done.values(language=bindparam("p_language"),
                            full_text=bindparam("p_full_text"),
                            full_text_error=bindparam("p_full_text_error"))
    return done, with_text


def _write_matches(connection: Connection, claimed: Sequence[Indexed]) -> None:
    table: Table = MatchRow.__table__  # type: ignore[assignment]
    insert_rows(connection, table, [
        {"article_id": c.article_id, "kind": m.kind, "ref_id": m.id, "name": m.name,
         "evidence": [{"field": e.field, "sentence": e.sentence,
                       "spans": [list(s) for s in e.spans]} for e in m.evidence],
         "participants": list(m.participants)}
        for c in claimed for m in c.matches
    ])


def _write_alerts(connection: Connection, claimed: Sequence[Claimed]) -> Counter[int]:
    """Outbox rows, one per subscription and story; how many are new, per article."""
    table: Table = AlertRow.__table__  # type: ignore[assignment]
    rows = [{"subscription_id": s, "story_id": c.story_id, "article_id": c.article_id,
             "state": "pending", "delivered": [], "attempts": 0, "created_at": c.now,
             "next_attempt_at": c.now}
            for c in claimed for s in sorted(set(c.subscription_ids))]
    created: Counter[int] = Counter()
    statement = _insert_ignore(connection.dialect.name, table).returning(table.c.article_id)
    for start in range(0, len(rows), _CHUNK):
        created.update(connection.scalars(statement, rows[start : start + _CHUNK]).all())
    return created
