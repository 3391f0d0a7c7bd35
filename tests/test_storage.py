"""Storage on both backends: the same tests on SQLite and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import inspect, select

from service.config.models import FeedConfig
from service.domain import Classification, Evidence, FeedEntry, Match
from service.errors import StorageError
from service.storage import AlertStore, ArticleStore, Database, FeedStore
from service.storage.engine import upgrade
from service.storage.models import ArticleRow
from service.storage.processing import ProcessedOutcome

NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def _entry(guid: str, url: str | None = None, title: str = "t") -> FeedEntry:
    return FeedEntry(guid=guid, url=url, title=title, summary="s", content="c", published=NOW)


def _feed(database: Database, url: str = "https://a.example/feed") -> int:
    return FeedStore(database).sync([FeedConfig(url=url)], NOW)[url].id


def _processed(database: Database, article_id: int, keys: list[str], subs: list[str]) -> object:
    articles = ArticleStore(database)
    assert articles.begin_attempt(article_id) is not None
    match = Match("entity", "e1", "Entity One", (Evidence("title", "t", ((0, 1),)),))
    return articles.commit_processed(
        article_id, story_keys=keys, classification=Classification((match,)),
        subscription_ids=subs, now=NOW,
    )


def test_migrations_create_every_table_and_are_idempotent(database: Database) -> None:
    upgrade(database.engine)  # a second time: nothing to do, no error
    tables = set(inspect(database.engine).get_table_names())
    assert {"feeds", "articles", "stories", "story_keys", "matches", "alerts"} <= tables


def test_entries_are_stored_once_per_feed_and_guid(database: Database) -> None:
    feed_id = _feed(database)
    articles = ArticleStore(database)
    first = articles.add_entries(feed_id, [_entry("g1"), _entry("g2"), _entry("g1")], NOW)
    again = articles.add_entries(feed_id, [_entry("g1"), _entry("g3")], NOW)
    assert len(first) == 2
    assert len(again) == 1
    assert articles.ids_in_state("new") == sorted(first + again)


def test_same_guid_in_another_feed_is_another_entry(database: Database) -> None:
    one, two = _feed(database, "https://a.example/1"), _feed(database, "https://b.example/2")
    articles = ArticleStore(database)
    assert len(articles.add_entries(one, [_entry("g1")], NOW)) == 1
    assert len(articles.add_entries(two, [_entry("g1")], NOW)) == 1


def test_shared_story_key_joins_the_first_story_and_alerts_once(database: Database) -> None:
    feed_id = _feed(database)
    articles = ArticleStore(database)
    a, b = articles.add_entries(feed_id, [_entry("g1"), _entry("g2")], NOW)
    first = _processed(database, a, ["url:https://x.example/1"], ["desk"])
    second = _processed(database, b, ["url:https://x.example/1", "text:abc"], ["desk"])
    assert first is not None and second is not None
    assert second.duplicate and not first.duplicate  # type: ignore[attr-defined]
    assert second.story_id == first.story_id  # type: ignore[attr-defined]
    assert (first.alerts_created, second.alerts_created) == (1, 0)  # type: ignore[attr-defined]
    due = AlertStore(database).due(NOW)
    assert [(v.subscription_id, v.story_id) for v in due] == [("desk", first.story_id)]  # type: ignore[attr-defined]


def test_processing_twice_changes_nothing(database: Database) -> None:
    feed_id = _feed(database)
    articles = ArticleStore(database)
    (a,) = articles.add_entries(feed_id, [_entry("g1")], NOW)
    assert _processed(database, a, ["url:u"], ["desk"]) is not None
    assert articles.begin_attempt(a) is None
    again = articles.commit_processed(
        a, story_keys=["url:u"], classification=Classification(), subscription_ids=["desk"],
        now=NOW,
    )
    assert again is None
    assert len(AlertStore(database).due(NOW)) == 1


def test_alert_view_carries_matches_and_other_outlets(database: Database) -> None:
    one, two = _feed(database, "https://a.example/1"), _feed(database, "https://b.example/2")
    articles = ArticleStore(database)
    (a,) = articles.add_entries(one, [_entry("g1", "https://x.example/story")], NOW)
    (b,) = articles.add_entries(two, [_entry("g9", "https://x.example/story")], NOW)
    _processed(database, a, ["url:https://x.example/story"], ["desk"])
    _processed(database, b, ["url:https://x.example/story"], ["desk"])
    (view,) = AlertStore(database).due(NOW)
    assert view.source == "https://a.example/1"
    assert view.other_outlets == ("https://b.example/2",)
    assert [m.id for m in view.matches] == ["e1"]
    assert view.matches[0].evidence[0].spans == ((0, 1),)


def test_failed_alert_stays_pending_until_sent(database: Database) -> None:
    feed_id = _feed(database)
    (a,) = ArticleStore(database).add_entries(feed_id, [_entry("g1")], NOW)
    _processed(database, a, [], ["desk"])
    alerts = AlertStore(database)
    (view,) = alerts.due(NOW)
    later = NOW + timedelta(minutes=5)
    dead = alerts.mark_failed(view.id, error="boom", delivered=[0], next_attempt_at=later,
                              max_attempts=8)
    assert dead is None  # not dead-lettered: pending again
    assert alerts.due(NOW) == []
    (retry,) = alerts.due(NOW, ignore_schedule=True)
    assert (retry.attempts, retry.delivered) == (1, (0,))
    alerts.mark_sent([view.id], later, [0, 1])
    assert alerts.due(later, ignore_schedule=True) == []
    (summary,) = alerts.recent(NOW - timedelta(days=1))
    assert (summary.state, summary.attempts) == ("sent", 2)


def test_fetch_state_is_recorded(database: Database) -> None:
    feeds = FeedStore(database)
    feed_id = _feed(database)
    feeds.record_success(feed_id, NOW, status=200, etag='"v1"', last_modified="Wed, 27 May",
                         title="A feed", new_items=3, next_poll_at=NOW)
    feeds.record_failure(feed_id, NOW, kind="http", message="HTTP 500", status=500,
                         next_poll_at=NOW)
    (state,) = feeds.states().values()
    assert (state.etag, state.items_seen, state.title) == ('"v1"', 3, "A feed")
    assert (state.last_error_kind, state.consecutive_failures, state.last_status) == (
        "http", 1, 500)


def test_unreachable_database_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="database unreachable"):
        Database.open("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_migrations_have_one_head_and_match_the_models(database: Database) -> None:
    """The schema the migrations build is the schema the ORM expects (both backends)."""
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config as AlembicConfig
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    import service.storage.dead_letters
    import service.storage.websub  # noqa: F401  (their tables live in their own modules)
    from service.storage.engine import MIGRATIONS
    from service.storage.models import Base

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == ["0019p"]
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    unexpected = [d for d in differences
                  if d[0] != "remove_table" or d[1].name != "alembic_version"]
    assert unexpected == []


def test_schedule_reads_url_next_poll_and_enabled_of_every_feed(database: Database) -> None:
    store = FeedStore(database)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store.register([FeedConfig(url="https://a.example/"), FeedConfig(url="https://b.example/")],
                   now)
    a, b = store.state("https://a.example/"), store.state("https://b.example/")
    assert a is not None and b is not None
    store.record_failure(b.id, now, kind="http", message="HTTP 410", status=410,
                         next_poll_at=None, disable_reason="gone (HTTP 410)")
    store.record_not_modified(a.id, now, now + timedelta(hours=1))
    rows = {url: (due, enabled) for url, due, enabled in store.schedule()}
    assert rows == {"https://a.example/": (now + timedelta(hours=1), True),
                    "https://b.example/": (None, False)}


def test_a_poll_record_keeps_what_the_poll_did_not_bring(database: Database) -> None:
    store = FeedStore(database)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store.register([FeedConfig(url="https://a.example/")], now)
    feed = store.state("https://a.example/")
    assert feed is not None
    store.record_success(feed.id, now, status=200, etag='"1"', last_modified=None,
                         title="A", new_items=3, next_poll_at=now, fetch_url="https://b.example/",
                         interval=timedelta(minutes=20), content_hash="h1")
    store.record_success(feed.id, now, status=200, etag=None, last_modified="Mon",
                         title="", new_items=2, next_poll_at=now + timedelta(hours=1))
    store.record_not_modified(feed.id, now, now + timedelta(hours=2))
    state = store.state("https://a.example/")
    assert state is not None
    assert (state.title, state.items_seen, state.content_hash, state.fetch_url) == (
        "A", 5, "h1", "https://b.example/")
    assert (state.etag, state.last_modified, state.last_status) == (None, "Mon", 304)
    assert state.learned_interval == timedelta(minutes=20)
    assert state.next_poll_at == now + timedelta(hours=2)


def test_migration_0014_drops_the_band_foreign_key_and_keeps_the_rows(database: Database) -> None:
    """Down to 0011 (the key back, the rows kept) and up again (the key gone, rows kept)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import inspect, text

    from service.storage.engine import MIGRATIONS

    engine = database.engine
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO feeds (url, enabled, created_at, consecutive_failures, items_seen)"
            " VALUES ('https://a.example/', true, CURRENT_TIMESTAMP, 0, 0)"))
        connection.execute(text(
            "INSERT INTO articles (feed_id, guid, title, summary, content, fetched_at, state,"
            " attempts) SELECT id, 'g', 't', 's', 'c', CURRENT_TIMESTAMP, 'new', 0 FROM feeds"))
        connection.execute(text("INSERT INTO story_bands (band, article_id)"
                                " SELECT 7, id FROM articles"))
    found: list[tuple[int, list[str]]] = []
    for target in ("0011", "heads"):
        with engine.begin() as connection:
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            (command.downgrade if target == "0011" else command.upgrade)(config, target)
        with engine.connect() as connection:
            bands = connection.execute(text("SELECT count(*) FROM story_bands")).scalar_one()
        schema = inspect(engine)
        keys = [k["referred_table"] for k in schema.get_foreign_keys("story_bands")]
        found.append((bands, keys))
    assert found == [(1, ["articles"]), (1, [])]


def test_migration_0019p_moves_each_articles_band_keys_into_its_sketch_row(
    database: Database,
) -> None:
    """Up from 0018a: the keys of the band rows already there fill their sketch rows
    (sorted, big-endian, as ``encode_bands`` writes them), the article index goes, and
    on PostgreSQL the article texts are compressed with lz4; down again: the index is
    back, the rows kept, the server's default compression again."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import inspect, text

    from service.storage.engine import MIGRATIONS
    from service.storage.stories import decode_bands, encode_bands

    engine = database.engine

    def migrate(target: str) -> set[str]:
        with engine.begin() as connection:
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            (command.downgrade if target == "0018a" else command.upgrade)(config, target)
        return {str(i["name"]) for i in inspect(engine).get_indexes("story_bands")}

    def compression() -> list[str]:
        if engine.dialect.name != "postgresql":
            return []
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT attname || ':' || attcompression::text FROM pg_attribute WHERE attrelid ="
                " 'articles'::regclass AND attname IN ('summary', 'content', 'full_text')"
                " ORDER BY attname")).scalars())

    assert migrate("0018a") == {"ix_story_bands_article"}
    assert all(c.endswith(":") for c in compression())  # the server's default
    keys = {1: [5, -(2**63), 2**63 - 1, 7], 2: [5]}  # article 3: a sketch row, no bands
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO feeds (url, enabled, created_at, consecutive_failures, items_seen)"
            " VALUES ('https://a.example/', true, CURRENT_TIMESTAMP, 0, 0)"))
        for article in (1, 2, 3):
            connection.execute(text(
                "INSERT INTO articles (id, feed_id, guid, title, summary, content, fetched_at,"
                " state, attempts) SELECT :a, id, :g, 't', 's', 'c', CURRENT_TIMESTAMP,"
                " 'processed', 1 FROM feeds"), {"a": article, "g": f"g{article}"})
            connection.execute(text(
                "INSERT INTO article_sketches (article_id, shingles, created_at)"
                " VALUES (:a, :s, CURRENT_TIMESTAMP)"), {"a": article, "s": b"\0\0\0\1"})
        connection.execute(text("INSERT INTO story_bands (band, article_id) VALUES (:b, :a)"),
                           [{"b": b, "a": a} for a, bands in keys.items() for b in bands])
    assert migrate("heads") == set()
    if engine.dialect.name == "postgresql":
        assert compression() == ["content:l", "full_text:l", "summary:l"]
    with engine.connect() as connection:
        filled: dict[int, bytes | None] = {a: b for a, b in connection.execute(text(
            "SELECT article_id, bands FROM article_sketches ORDER BY article_id"))}
        count = connection.execute(text("SELECT count(*) FROM story_bands")).scalar_one()
    assert {a: None if blob is None else decode_bands(blob).tolist()
            for a, blob in filled.items()} == {1: sorted(keys[1]), 2: [5], 3: None}
    assert filled[1] == encode_bands(np.array(sorted(keys[1]), dtype=np.int64))
    assert count == 5
    assert migrate("0018a") == {"ix_story_bands_article"}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM story_bands")).scalar_one() == 5
    assert all(c.endswith(":") for c in compression())
    migrate("heads")


def test_a_batch_stores_each_articles_state_and_only_the_text_it_looked_at(
    database: Database,
) -> None:
    """One statement per form of article row (PostgreSQL: arrays): an article the worker
    read keeps its language, page text and page error; one it did not keeps NULLs."""
    from service.storage.processing import ProcessedArticle, TextAnalysis

    feed_id = _feed(database)
    articles = ArticleStore(database)
    ids = articles.add_entries(feed_id, [_entry(f"g{i}", f"https://x.example/{i}")
                                         for i in range(4)], NOW)
    assert len(articles.begin_attempts(ids)) == 4
    analyses = [None, TextAnalysis("fr", "Le texte, 'cité' {x}", None),
                TextAnalysis(None, None, "HTTP 404"), TextAnalysis("en", None, None)]
    later = NOW + timedelta(seconds=1)
    items = [ProcessedArticle(a, [f"k{n}"], (), [], later, analysis)
             for n, (a, analysis) in enumerate(zip(ids, analyses, strict=True))]
    outcomes = articles.commit_batch(items, transient=lambda _: False)
    assert all(o is not None and not isinstance(o, Exception) and not o.duplicate
               for o in outcomes)
    with database.session() as session:
        rows = session.execute(select(ArticleRow.id, ArticleRow.state, ArticleRow.story_id,
                                      ArticleRow.processed_at, ArticleRow.language,
                                      ArticleRow.full_text, ArticleRow.full_text_error)
                               .order_by(ArticleRow.id)).all()
    stories = [o.story_id for o in outcomes if isinstance(o, ProcessedOutcome)]
    assert [tuple(r) for r in rows] == [
        (a, "processed", story, later, *(
            (None, None, None) if t is None else (t.language, t.full_text, t.full_text_error)))
        for a, story, t in zip(ids, stories, analyses, strict=True)]
