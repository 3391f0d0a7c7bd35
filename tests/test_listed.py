"""Lists bound as one parameter: integers reach PostgreSQL as one binary int8[],
byte strings as one binary bytea[].

``BigintArray`` and ``ByteaArray`` are dumped by our own code (PostgreSQL's
binary array format), so what the server reads must be exactly the list
given: every value, in order, NULLs and the empty list; and a condition built by
``in_listed`` selects the rows it names on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, Engine, MetaData, Table, bindparam, select, text

from service.storage.engine import make_engine
from service.storage.listed import BigintArray, ByteaArray, Int8Array, in_listed

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def test_a_bigint_array_reaches_postgresql_as_given(pg_engine: Engine) -> None:
    statement = text("SELECT array_length(:v, 1), :v").bindparams(
        bindparam("v", type_=Int8Array()))

    @given(st.lists(INT64, max_size=300))
    def round_trip(values: list[int]) -> None:
        with pg_engine.connect() as connection:
            length, back = connection.execute(statement, {"v": BigintArray(values)}).one()
        assert (length or 0, list(back)) == (len(values), values)

    round_trip()
    extremes = [-(2**63), -1, 0, 1, 2**63 - 1]
    with pg_engine.connect() as connection:
        back = connection.execute(statement, {"v": BigintArray(extremes)}).one()[1]
    assert back == extremes


def test_a_bytea_array_reaches_postgresql_as_given(pg_engine: Engine) -> None:
    @given(st.lists(st.none() | st.binary(max_size=64), max_size=50))
    def round_trip(values: list[bytes | None]) -> None:
        with pg_engine.connect() as connection:
            length, back = connection.exec_driver_sql(
                "SELECT array_length(%s, 1), %s", (ByteaArray(values), ByteaArray(values))).one()
        assert (length or 0, list(back)) == (len(values), values)

    round_trip()
    with pg_engine.connect() as connection:
        back = connection.exec_driver_sql("SELECT %s::bytea[]", (ByteaArray(
            [b"\x00\xff", None, b"", b'"{},\\']),)).scalar_one()
    assert back == [b"\x00\xff", None, b"", b'"{},\\']


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_in_listed_selects_the_rows_named(backend: str, request: pytest.FixtureRequest) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    engine = make_engine(url)
    table = Table("t", MetaData(), Column("k", BigInteger, primary_key=True))
    condition, bind = in_listed(engine.dialect.name, table.c.k, "ks")
    try:
        with engine.begin() as connection:
            table.create(connection)
            connection.execute(table.insert(), [{"k": k} for k in (-(2**63), -5, 0, 7, 2**62)])
            found = connection.scalars(select(table.c.k).where(condition).order_by(table.c.k),
                                       {"ks": bind([7, -(2**63), 8, 2**62])}).all()
            none = connection.scalars(select(table.c.k).where(condition), {"ks": bind([])}).all()
    finally:
        engine.dispose()
    assert (found, none) == ([-(2**63), 7, 2**62], [])
