"""``column IN (a list)`` bound as one parameter, however long the list.

A batch asks about thousands of values at once (100 articles: some 6,400
band keys, 300 story keys). An IN list of that many bound parameters cost
more to build in SQLAlchemy than to run (profiled: ~1 ms per article on
PostgreSQL), and SQLite caps how many one statement takes. Bound as one
value instead: a PostgreSQL array (``= ANY(:values)``) or a JSON array that
SQLite unpacks (``IN (SELECT value FROM json_each(:values))``).

``int_array`` writes integers as the text of a PostgreSQL array, for a
statement that casts it once (``unnest(%s::text::bigint[])``): psycopg dumps
a list of 6,400 integers item by item in Python. Not in a condition: a cast
there is evaluated again for every row a scan reads (seen: a band index read
of 40 s instead of 10 ms).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, String, any_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ColumnElement

Bind = Callable[[Sequence[Any]], object]


def in_listed(
    dialect: str, target: ColumnElement[Any] | QueryableAttribute[Any], name: str, *,
    text: bool = False,
) -> tuple[ColumnElement[bool], Bind]:
    """The condition ``target IN :name`` and how to bind a list to ``name``
    (``text``: a list of strings, else of 64-bit integers)."""
    if dialect == "postgresql":
        element = String() if text else BigInteger()
        wanted: Any = any_(bindparam(name, type_=ARRAY(element)))
        return target == wanted, list
    values: Any = select(column("value")).select_from(func.json_each(bindparam(name)))
    return target.in_(values.scalar_subquery()), json.dumps


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,2,3}``), to cast with ``::bigint[]``."""
    return "{" + ",".join(map(str, values)) + "}"
