"""Insert-or-ignore many rows on PostgreSQL as one array per column.

A batch writes hundreds to thousands of rows into a table at once (300 story
keys, 100 sketches, a segment row per sentence of every article). Sent as
multi-row VALUES (SQLAlchemy's "insertmanyvalues"), each statement carries a
named parameter per value and its text differs with the row count, so
SQLAlchemy processes every parameter and psycopg parses the whole statement
again each time (profiled in a worker: ~11% of its CPU in psycopg's query
conversion; 0.08 ms per article for the story keys alone). Here the statement
is fixed per table and columns, ``INSERT ... SELECT * FROM unnest(a1, a2, ...)
ON CONFLICT DO NOTHING``, with one array per column: integers as the text of
an array (``listed.int_array``: psycopg dumps integer lists item by item),
byte strings as one binary array (``listed.ByteaArray``), the rest as arrays
psycopg dumps whole.

Values are cast to the column's base type (``text``, ``bigint``, ``bytea``,
``timestamptz``), never to a sized type: ``'...'::varchar(64)`` cuts a long
value silently, where the insert's own assignment refuses it (as VALUES does).
Only tables whose columns are all of those kinds take this path
(``plan_for`` says None otherwise: JSON columns, say).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import index
from typing import Any

from sqlalchemy import Connection, DateTime, Enum, Integer, LargeBinary, String, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator, TypeEngine

from service.storage.listed import ByteaArray

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    cast: str  # the array's SQL type
    integer: bool  # sent as the text of an array
    process: Callable[[Any], Any] | None  # the column type's own bind processing


@dataclass(frozen=True, slots=True)
class ArrayInsert:
    """The statement for one table and set of columns, and how to bind rows to it."""

    table: str
    statement: str
    columns: tuple[_Column, ...]

    def parameters(self, rows: Sequence[dict[str, Any]]) -> tuple[object, ...]:
        names = [c.name for c in self.columns]
        for row in rows:
            if len(row) != len(names) or not all(name in row for name in names):
                raise ValueError(f"{self.table}: every row needs exactly the columns "
                                 f"{names}, got {sorted(row)}")
        return tuple(_array(column, [row[column.name] for row in rows])
                     for column in self.columns)


def insert_arrays(connection: Connection, plan: ArrayInsert,
                  rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with exactly the plan's columns), ignoring conflicts."""
    if rows:
        connection.exec_driver_sql(plan.statement, plan.parameters(rows))


def plan_for(table: Table, names: tuple[str, ...]) -> ArrayInsert | None:
    """The array insert into ``table``'s columns ``names`` (None: a column of
    another kind, or not in the table)."""
    return _plan(table, names)


@lru_cache(maxsize=64)
def _plan(table: Table, names: tuple[str, ...]) -> ArrayInsert | None:
    columns = []
    for name in names:
        column = table.columns.get(name)
        kind = _kind(column.type) if column is not None else None
        if column is None or kind is None:
            return None
        columns.append(_Column(name, kind, kind == "bigint",
                               column.type.bind_processor(_DIALECT)))
    arrays = ", ".join("%s::text::bigint[]" if c.integer else f"%s::{c.cast}[]"
                       for c in columns)
    statement = (f"INSERT INTO {table.name} ({', '.join(names)}) "
                 f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING")
    return ArrayInsert(table.name, statement, tuple(columns))


def _kind(column_type: TypeEngine[Any]) -> str | None:
    """The unsized PostgreSQL type to cast a column's array to, if a plain one."""
    base = column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type
    if isinstance(base, Integer):
        return "bigint"
    if isinstance(base, String) and not isinstance(base, Enum):
        return "text"
    if isinstance(base, LargeBinary):
        return "bytea"
    if isinstance(base, DateTime):
        return "timestamptz" if base.timezone else "timestamp"
    return None


def _array(column: _Column, values: list[Any]) -> object:
    if column.process is not None:
        values = [column.process(v) for v in values]
    if column.integer:
        return "{" + ",".join("NULL" if v is None else str(index(v)) for v in values) + "}"
    if column.cast == "bytea":
        return ByteaArray(values)
    return values
