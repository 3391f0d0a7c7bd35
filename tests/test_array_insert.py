"""A batch's rows, inserted or ignored: the same on both backends, whichever way
they are sent (PostgreSQL: one array per column, ``service.storage.array_insert``;
a table with other columns and SQLite: multi-row VALUES)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError

from service.config.models import FeedConfig
from service.domain import FeedEntry
from service.storage import ArticleStore, Database, FeedStore
from service.storage.array_insert import plan_for
from service.storage.batch_rows import insert_rows
from service.storage.models import (
    ArticleSketchRow,
    FeedSegmentRow,
    MatchRow,
    StoryKeyRow,
    StoryRow,
)

NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
SEGMENTS: Table = FeedSegmentRow.__table__  # type: ignore[assignment]
SKETCHES: Table = ArticleSketchRow.__table__  # type: ignore[assignment]
KEYS: Table = StoryKeyRow.__table__  # type: ignore[assignment]
STORIES: Table = StoryRow.__table__  # type: ignore[assignment]
MATCHES: Table = MatchRow.__table__  # type: ignore[assignment]


def _feed(database: Database) -> int:
    url = "https://a.example/feed"
    return FeedStore(database).sync([FeedConfig(url=url)], NOW)[url].id


def _insert(database: Database, table: Table, rows: list[dict[str, Any]]) -> None:
    with database.engine.begin() as connection:
        insert_rows(connection, table, rows)


def _all(database: Database, *columns: Any) -> list[tuple[Any, ...]]:
    with database.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(*columns).order_by(*columns))]


def test_new_rows_are_written_and_known_ones_left_as_they_were(database: Database) -> None:
    feed = _feed(database)
    _insert(database, SEGMENTS, [{"feed_id": feed, "fingerprint": f, "article_id": 1}
                                 for f in (-(2**63), -5, 7)])
    _insert(database, SEGMENTS, [{"feed_id": feed, "fingerprint": f, "article_id": 2}
                                 for f in (7, 2**63 - 1, 7)])  # a known one, a new one, twice
    assert _all(database, SEGMENTS.c.fingerprint, SEGMENTS.c.article_id) == [
        (-(2**63), 1), (-5, 1), (7, 1), (2**63 - 1, 2)]


def test_bytes_nulls_and_times_come_back_as_given(database: Database) -> None:
    feed = _feed(database)
    entries = [FeedEntry(guid=f"g{i}", url=f"https://x.example/{i}", title="t", summary="s",
                         content="c", published=NOW) for i in range(3)]
    ids = ArticleStore(database).add_entries(feed, entries, NOW)
    later = NOW + timedelta(microseconds=1)
    rows = [{"article_id": ids[0], "shingles": b"\x00\x01\xff", "created_at": NOW, "event": None},
            {"article_id": ids[1], "shingles": b"", "created_at": later, "event": b"\\x00,{}"},
            {"article_id": ids[2], "shingles": b'"', "created_at": NOW, "event": None}]
    _insert(database, SKETCHES, rows)
    got = _all(database, SKETCHES.c.article_id, SKETCHES.c.shingles, SKETCHES.c.created_at,
               SKETCHES.c.event)
    assert got == [(r["article_id"], r["shingles"], r["created_at"], r["event"]) for r in rows]


def test_text_keeps_quotes_braces_and_commas(database: Database) -> None:
    with database.engine.begin() as connection:
        story = connection.execute(STORIES.insert().returning(STORIES.c.id), {
            "first_article_id": 1, "created_at": NOW, "updated_at": NOW}).scalar_one()
    keys = ['a,b', '{x}', 'say "hi"', "back\\slash", "NULL", "ünï cödé", ""]
    _insert(database, KEYS, [{"key": k, "story_id": story} for k in keys])
    assert _all(database, KEYS.c.key) == sorted((k,) for k in keys)


def test_a_value_too_long_is_refused_not_cut(pg_url: str) -> None:
    database = Database.open(pg_url)
    try:
        with database.engine.begin() as connection:
            story = connection.execute(STORIES.insert().returning(STORIES.c.id), {
                "first_article_id": 1, "created_at": NOW, "updated_at": NOW}).scalar_one()
        assert plan_for(KEYS, ("key", "story_id")) is not None  # the array path is the one tested
        with pytest.raises(DBAPIError, match="too long"):
            _insert(database, KEYS, [{"key": "k" * 65, "story_id": story}])
        assert _all(database, KEYS.c.key) == []
    finally:
        database.close()


def test_only_plain_columns_take_the_array_path() -> None:
    plan = plan_for(KEYS, ("key", "story_id"))
    assert plan is not None
    assert plan.statement == ("INSERT INTO story_keys (key, story_id) SELECT * FROM "
                              "unnest(%s::text[], %s::text::bigint[]) ON CONFLICT DO NOTHING")
    assert plan_for(MATCHES, ("article_id", "kind", "ref_id", "name", "evidence",
                              "participants")) is None  # JSON
    assert plan_for(KEYS, ("key", "no_such_column")) is None


def test_rows_that_do_not_fit_the_plan_are_refused_with_the_table_named() -> None:
    plan = plan_for(KEYS, ("key", "story_id"))
    assert plan is not None
    with pytest.raises(ValueError, match="story_keys: every row needs exactly the columns"):
        plan.parameters([{"key": "a", "story_id": 1}, {"key": "b"}])
    with pytest.raises(ValueError, match="got \\['key', 'story'\\]"):
        plan.parameters([{"key": "a", "story": 1}])
    with pytest.raises(TypeError):
        plan.parameters([{"key": "a", "story_id": 1.5}])  # never rounded into an id
    assert plan.parameters([{"key": "a", "story_id": 1}, {"key": None, "story_id": None}]) == (
        ["a", None], "{1,NULL}")
