"""The poller's writes, batched: add_entries as one insert-or-ignore, a poll's record as one UPDATE.

The poller stores a changed feed's entries with one executemany (multi-row
INSERT ... ON CONFLICT DO NOTHING RETURNING), on both backends; these tests
pin what the per-entry inserts it replaced guaranteed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

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


# --- a poll's record: one UPDATE each ------------------------------------------------------------


def test_a_success_is_recorded_and_blank_fields_keep_what_was_known(database: Database) -> None:
    url = "https://a.example/feed"
    feeds = FeedStore(database)
    feed_id = feeds.sync([FeedConfig(url=url)], NOW)[url].id
    later = NOW + timedelta(minutes=5)
    feeds.record_failure(feed_id, NOW, kind="http", message="503", status=503,
                         next_poll_at=NOW)
    feeds.record_success(feed_id, NOW, status=200, etag='"v1"', last_modified=None,
                         title="Feed A", new_items=3, next_poll_at=later,
                         fetch_url="https://b.example/feed", interval=timedelta(hours=1),
                         content_hash="h1")
    feeds.record_success(feed_id, later, status=200, etag=None, last_modified="Sat",
                         title=None, new_items=2, next_poll_at=later)
    state = feeds.state(url)
    assert state is not None
    assert (state.title, state.items_seen, state.content_hash) == ("Feed A", 5, "h1")
    assert (state.etag, state.last_modified, state.interval_seconds) == (None, "Sat", 3600)
    assert (state.consecutive_failures, state.last_error, state.last_error_kind) == (0, None, None)
    assert state.fetch_url == "https://b.example/feed"
    assert state.last_polled_at == state.last_success_at == later


def test_not_modified_moves_the_next_poll_and_clears_the_last_error(database: Database) -> None:
    url = "https://a.example/feed"
    feeds = FeedStore(database)
    feed_id = feeds.sync([FeedConfig(url=url)], NOW)[url].id
    feeds.record_failure(feed_id, NOW, kind="timeout", message="slow", status=None,
                         next_poll_at=NOW)
    feeds.record_not_modified(feed_id, NOW, NOW + timedelta(hours=1))
    state = feeds.state(url)
    assert state is not None
    assert (state.last_status, state.consecutive_failures, state.last_error) == (304, 0, None)
    assert state.next_poll_at == NOW + timedelta(hours=1)


def test_recording_a_poll_of_an_unknown_feed_fails(database: Database) -> None:
    with pytest.raises(NoResultFound):
        FeedStore(database).record_not_modified(987_654, NOW, NOW)
