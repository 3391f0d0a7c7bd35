"""add_entries as one batched insert-or-ignore: large feeds, known and repeated entries.

The poller stores a changed feed's entries with one executemany (multi-row
INSERT ... ON CONFLICT DO NOTHING RETURNING), on both backends; these tests
pin what the per-entry inserts it replaced guaranteed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from service.config.models import FeedConfig
from service.domain import FeedEntry
from service.storage import ArticleStore, Database, FeedStore
from service.storage.models import ArticleRow

NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def _entry(guid: str, title: str = "t", *, dated: bool = True) -> FeedEntry:
    return FeedEntry(guid=guid, url=f"https://x.example/{guid}", title=title, summary="s",
                     content="c", published=NOW if dated else None,
                     author="A. Writer" if dated else None)


def _feed(database: Database) -> int:
    url = "https://a.example/feed"
    return FeedStore(database).sync([FeedConfig(url=url)], NOW)[url].id


def _stored(database: Database, feed_id: int) -> dict[str, tuple[int, str]]:
    with database.session() as session:
        rows = session.execute(select(ArticleRow.guid, ArticleRow.id, ArticleRow.title)
                               .where(ArticleRow.feed_id == feed_id))
        return {guid: (id_, title) for guid, id_, title in rows}


def test_a_large_feed_is_stored_whole_and_ids_follow_the_entries(database: Database) -> None:
    feed_id = _feed(database)
    entries = [_entry(f"g{i}", dated=i % 3 != 0) for i in range(1_500)]
    ids = ArticleStore(database).add_entries(feed_id, entries, NOW)
    stored = _stored(database, feed_id)
    assert len(ids) == 1_500
    assert ids == [stored[f"g{i}"][0] for i in range(1_500)]


def test_known_entries_are_ignored_and_only_new_ids_return(database: Database) -> None:
    feed_id = _feed(database)
    articles = ArticleStore(database)
    first = articles.add_entries(feed_id, [_entry(f"g{i}") for i in range(0, 40, 2)], NOW)
    second = articles.add_entries(feed_id, [_entry(f"g{i}") for i in range(40)], NOW)
    stored = _stored(database, feed_id)
    assert set(first).isdisjoint(second)
    assert second == [stored[f"g{i}"][0] for i in range(1, 40, 2)]
    assert articles.add_entries(feed_id, [_entry(f"g{i}") for i in range(40)], NOW) == []


def test_an_entry_listed_twice_keeps_its_first_version(database: Database) -> None:
    feed_id = _feed(database)
    entries = [_entry("g1", "first"), _entry("g2"), _entry("g1", "second")]
    ids = ArticleStore(database).add_entries(feed_id, entries, NOW)
    assert len(ids) == 2
    assert _stored(database, feed_id)["g1"][1] == "first"


def test_no_entries_store_nothing(database: Database) -> None:
    assert ArticleStore(database).add_entries(_feed(database), [], NOW) == []
