"""``column IN (a list)`` bound as one parameter, however long the list.

A batch asks about thousands of values at once (100 articles: some 6,400
band keys, 300 story keys). An IN list of that many bound parameters cost
more to build in SQLAlchemy than to run (profiled: ~1 ms per article on
PostgreSQL), and SQLite caps how many one statement takes. Bound as one
value instead: a PostgreSQL array (``= ANY(:values)``) or a JSON array that
SQLite unpacks (``IN (SELECT value FROM json_each(:values))``).

psycopg dumps a Python list of 6,400 integers item by item (measured: 7.2
ms of CPU per statement, under the batch's claim locks for the band index
read). Integers are therefore bound as a ``BigintArray``, which psycopg
sends as one binary ``int8[]`` built by numpy (0.2 ms); its dumper is
registered on every PostgreSQL connection (``register_dumpers``, from
``service.storage.engine``). ``int_array`` writes integers as the text of a
PostgreSQL array, for a statement that casts it once
(``unnest(%s::text::bigint[])``); not in a condition: a cast there is
evaluated again for every row a scan reads (seen: a band index read of 40 s
instead of 10 ms).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from psycopg import BaseConnection
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import BigInteger, Dialect, String, any_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import TypeDecorator

Bind = Callable[[Sequence[Any]], object]
_INT8_OID, _INT8_ARRAY_OID = 20, 1016
_BYTEA_OID, _BYTEA_ARRAY_OID = 17, 1001
_NULL = struct.pack(">i", -1)


class BigintArray:
    """64-bit integers to bind as one PostgreSQL ``int8[]`` (see ``BigintArrayDumper``)."""

    __slots__ = ("values",)

    def __init__(self, values: Iterable[int]) -> None:
        self.values = np.fromiter(values, dtype=np.int64)


class BigintArrayDumper(Dumper):
    """PostgreSQL's binary array format at numpy's speed: a header (dimensions,
    no nulls, element type, length, lower bound 1), then per element its
    length (8) and its big-endian value."""

    format = Format.BINARY
    oid = _INT8_ARRAY_OID

    def dump(self, obj: BigintArray) -> bytes:
        values = obj.values
        if not len(values):
            return struct.pack(">iii", 0, 0, _INT8_OID)
        cells = np.empty(len(values), dtype=[("size", ">i4"), ("value", ">i8")])
        cells["size"] = 8
        cells["value"] = values
        return struct.pack(">iiiii", 1, 0, _INT8_OID, len(values), 1) + cells.tobytes()


class ByteaArray:
    """Byte strings (or None) to bind as one PostgreSQL ``bytea[]`` in binary
    (``ByteaArrayDumper``): psycopg sends a list of bytes as text, every byte
    hex-escaped by the client and decoded by the server (a batch's sketch rows:
    ~250 KB of hex, 0.03 ms of server CPU per article to bind, measured)."""

    __slots__ = ("values",)

    def __init__(self, values: Iterable[bytes | None]) -> None:
        self.values = list(values)


class ByteaArrayDumper(Dumper):
    """PostgreSQL's binary array format: a header (dimensions, whether nulls,
    element type, length, lower bound 1), then per element its length (-1 for
    NULL) and its bytes."""

    format = Format.BINARY
    oid = _BYTEA_ARRAY_OID

    def dump(self, obj: ByteaArray) -> bytes:
        values = obj.values
        if not values:
            return struct.pack(">iii", 0, 0, _BYTEA_OID)
        nulls = any(v is None for v in values)
        parts = [struct.pack(">iiiii", 1, int(nulls), _BYTEA_OID, len(values), 1)]
        for value in values:
            parts.append(_NULL if value is None else struct.pack(">i", len(value)) + value)
        return b"".join(parts)


class Int8Array(TypeDecorator[Any]):
    """``bigint[]`` bound as given: a ``BigintArray`` goes to psycopg untouched
    (SQLAlchemy's ARRAY would iterate it to process each item)."""

    impl = ARRAY(BigInteger())
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def register_dumpers(connection: BaseConnection[Any]) -> None:
    """Let ``connection`` bind ``BigintArray`` and ``ByteaArray`` values."""
    connection.adapters.register_dumper(BigintArray, BigintArrayDumper)
    connection.adapters.register_dumper(ByteaArray, ByteaArrayDumper)


def in_listed(
    dialect: str, target: ColumnElement[Any] | QueryableAttribute[Any], name: str, *,
    text: bool = False,
) -> tuple[ColumnElement[bool], Bind]:
    """The condition ``target IN :name`` and how to bind a list to ``name``
    (``text``: a list of strings, else of 64-bit integers)."""
    if dialect == "postgresql":
        if text:
            wanted: Any = any_(bindparam(name, type_=ARRAY(String())))
            return target == wanted, list
        return target == any_(bindparam(name, type_=Int8Array())), BigintArray
    values: Any = select(column("value")).select_from(func.json_each(bindparam(name)))
    return target.in_(values.scalar_subquery()), json.dumps


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,2,3}``), to cast with ``::bigint[]``."""
    return "{" + ",".join(map(str, values)) + "}"
