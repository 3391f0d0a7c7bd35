"""A batch of processed articles in one transaction, a savepoint per article.

What storing articles one by one guaranteed must hold for a batch: copies
inside one batch make one story, a feed's footer learnt inside the batch is
boilerplate, running a batch twice stores nothing twice, one article that
the database refuses rolls back alone and is delivered again, and a worker
killed once the batch's index rows are written (before its claim locks and
its commit) leaves nothing behind: the batch delivered again stores once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from service.config import load_config
from service.config.models import DedupSettings, FeedConfig
from service.dedup import near_duplicate
from service.domain import Evidence, FeedEntry, Match
from service.matching.classifier import compile_watchlists
from service.pipeline import Processor, is_transient, process_articles
from service.storage import ArticleStore, Database, FeedStore, processing
from service.storage.articles import ProcessedArticle, ProcessedOutcome
from service.storage.event_index import prune_index
from service.storage.models import (
    AlertRow,
    ArticleRow,
    ArticleSketchRow,
    ClaimLogRow,
    MatchRow,
    StoryBandRow,
    StoryRow,
)
from tests.story_texts import (
    FOOTER,
    OTHER,
    SHORT,
    STORY,
    VOCABULARY,
    WIRE_FOOTER,
    sentences,
)

NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def _add(database: Database, feed: str, guid: str, title: str, text: str) -> int:
    url = f"https://{feed}.example/feed"
    feed_id = FeedStore(database).sync([FeedConfig(url=url, name=feed)], NOW)[url].id
    entry = FeedEntry(guid=guid, url=None, title=title, summary="", content=text, published=NOW)
    (article_id,) = ArticleStore(database).add_entries(feed_id, [entry], NOW)
    return article_id


def _item(article_id: int, title: str, text: str, *, keys: tuple[str, ...] = (),
          matches: tuple[Match, ...] = ()) -> ProcessedArticle:
    return ProcessedArticle(article_id, story_keys=keys, matches=matches,
                            subscription_ids=["desk"], now=NOW,
                            near=near_duplicate(DedupSettings(), title, text, NOW))


def _commit(database: Database, items: list[ProcessedArticle]) -> list[object]:
    articles = ArticleStore(database)
    assert len(articles.begin_attempts([i.article_id for i in items])) <= len(items)
    return list(articles.commit_batch(items, transient=is_transient))


def _count(database: Database, table: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_copies_inside_one_batch_make_one_story_and_a_footer_learnt_in_it_is_boilerplate(
    database: Database,
) -> None:
    copy_title = sentences(VOCABULARY[600:610])
    texts = [
        ("outlet", "a1", STORY.title, STORY.text(FOOTER)),
        ("outlet", "a2", OTHER.title, OTHER.text(FOOTER)),
        ("wire", "w1", copy_title, STORY.copy(copy_title, "BAKU (Wire)", WIRE_FOOTER)),
        ("outlet", "a3", SHORT.title, SHORT.text(FOOTER)),
        ("mirror", "m1", "Same link", "A short text."),
        ("mirror", "m2", "Same link again", "Another short text."),
    ]
    ids = [_add(database, *t) for t in texts]
    items = [_item(a, t[2], t[3]) for a, t in zip(ids, texts, strict=True)]
    link = ("url:https://x.example/same",)
    items[4] = _item(ids[4], texts[4][2], texts[4][3], keys=link)
    items[5] = _item(ids[5], texts[5][2], texts[5][3], keys=link)
    outcomes = _commit(database, items)
    assert all(isinstance(o, ProcessedOutcome) for o in outcomes)
    story, other, copy, short, same, again = outcomes
    assert isinstance(copy, ProcessedOutcome) and isinstance(story, ProcessedOutcome)
    assert (copy.story_id, copy.duplicate, copy.alerts_created) == (story.story_id, True, 0)
    assert isinstance(again, ProcessedOutcome) and isinstance(same, ProcessedOutcome)
    assert (again.story_id, again.duplicate) == (same.story_id, True)
    assert isinstance(other, ProcessedOutcome) and isinstance(short, ProcessedOutcome)
    assert len({story.story_id, other.story_id, short.story_id, same.story_id}) == 4
    assert _count(database, StoryRow) == 4 and _count(database, AlertRow) == 4


def test_the_same_batch_stored_twice_stores_nothing_twice(database: Database) -> None:
    ids = [_add(database, "outlet", f"a{n}", f"Title {n}", STORY.text()) for n in range(3)]
    items = [_item(a, f"Title {n}", STORY.text()) for n, a in enumerate(ids)]
    first = _commit(database, items)
    assert [type(o) for o in first] == [ProcessedOutcome] * 3
    counts = (_count(database, StoryRow), _count(database, AlertRow))
    again = ArticleStore(database).commit_batch(items, transient=is_transient)
    assert again == [None, None, None]
    assert (_count(database, StoryRow), _count(database, AlertRow)) == counts == (1, 1)


def _config_dir(tmp_path: Path, url: str, name: str = "K" * 600) -> Path:
    """A watchlist of one entity, Karabakh (by default named too long for a match row)."""
    directory = tmp_path / "config"
    (directory / "watchlists").mkdir(parents=True)
    (directory / "feeds.yaml").write_text('{"feeds": []}', encoding="utf-8")
    (directory / "newswatch.yaml").write_text(f'{{"database_url": "{url}"}}', "utf-8")
    (directory / "watchlists" / "w.yaml").write_text(
        '{"entities": [{"id": "k", "name": "' + name + '", "aliases": ["Karabakh"]}], '
        '"subscriptions": '
        '[{"id": "desk", "notify": ["json://127.0.0.1:9/"], "entities": ["k"]}]}', "utf-8")
    return directory


def test_an_article_the_database_refuses_rolls_back_alone_and_comes_again(
    tmp_path: Path, pg_url: str
) -> None:
    database = Database.open(pg_url)
    ids = [_add(database, "outlet", f"a{n}", f"Karabakh {n}", sentences(VOCABULARY[n * 40 :
                                                                                  n * 40 + 30]))
           for n in range(4)]
    evidence = Evidence(field="title", sentence="Karabakh", spans=((0, 8),))
    refused = Match(kind="entity", id="k", name="K" * 600, evidence=(evidence,))  # > 512
    items = [_item(a, f"Karabakh {n}", "x", matches=(refused,) if n == 1 else ())
             for n, a in enumerate(ids)]
    outcomes = _commit(database, items)
    assert isinstance(outcomes[1], Exception)
    assert all(isinstance(outcomes[n], ProcessedOutcome) for n in (0, 2, 3))
    with database.session() as session:
        states = dict(session.execute(select(ArticleRow.id, ArticleRow.state)).all())
        assert session.scalar(select(func.count()).select_from(MatchRow)) == 0
    assert [states[a] for a in ids] == ["processed", "new", "processed", "processed"]
    # through the pipeline: the refused one is reported, its error kept, the rest go on
    config = load_config(_config_dir(tmp_path, pg_url), {})
    processor = Processor(config=config, classifier=compile_watchlists(config.watchlists))
    # the entity's name is longer than a match row takes: only b1 mentions it
    more = [_add(database, "outlet", f"b{n}", ("Karabakh" if n == 1 else "Elsewhere") + f" b{n}",
                 "Nothing to see.") for n in range(3)]
    report = process_articles(database, processor, more, lambda: NOW)
    assert (report.processed, report.failed_ids) == (2, [more[1]])
    with database.session() as session:
        row = session.get_one(ArticleRow, more[1])
        assert row.state == "new" and row.attempts == 1 and row.last_error
    database.close()


def _killed_at_the_claim_locks(config_dir: str, ids: list[int], seen: Any) -> None:
    """A worker that dies (SIGKILL) where the batch takes its claim locks, after
    writing its sketches, band keys and matches: it reports how many band rows
    its own transaction holds, then kills itself."""
    def die(connection: Connection, *args: object) -> None:
        seen.put(connection.scalar(select(func.count()).select_from(StoryBandRow)))
        seen.close()
        seen.join_thread()
        os.kill(os.getpid(), signal.SIGKILL)

    processing._lock_claims = die  # type: ignore[assignment]
    config = load_config(config_dir, {})
    processor = Processor(config=config, classifier=compile_watchlists(config.watchlists))
    process_articles(Database.open(config.settings.database_url), processor, ids, lambda: NOW)


def _rows(database: Database) -> tuple[int, int, int, int, int]:
    return (_count(database, StoryBandRow), _count(database, ArticleSketchRow),
            _count(database, MatchRow), _count(database, StoryRow), _count(database, AlertRow))


def test_a_worker_killed_after_writing_the_index_rows_leaves_nothing_and_the_rerun_stores_once(
    tmp_path: Path, database_url: str
) -> None:
    database = Database.open(database_url)
    copy_title = "Karabakh " + sentences(VOCABULARY[600:608])
    ids = [_add(database, "outlet", "a1", "Karabakh " + STORY.title, STORY.text(FOOTER)),
           _add(database, "wire", "w1", copy_title,
                STORY.copy(copy_title, "BAKU (Wire)", WIRE_FOOTER)),
           _add(database, "outlet", "a2", "Karabakh " + OTHER.title, OTHER.text(FOOTER))]
    config_dir = _config_dir(tmp_path, database_url, name="Karabakh")
    context = multiprocessing.get_context("spawn")
    seen = context.Queue()
    worker = context.Process(target=_killed_at_the_claim_locks,
                             args=(str(config_dir), ids, seen))
    worker.start()
    worker.join(timeout=120)
    assert worker.exitcode == -signal.SIGKILL
    assert seen.get(timeout=10) >= 3 * 64  # its band rows were written, in its transaction
    assert _rows(database) == (0, 0, 0, 0, 0)
    with database.session() as session:
        rows = session.execute(select(ArticleRow.state, ArticleRow.attempts)
                               .where(ArticleRow.id.in_(ids))).all()
    assert sorted(rows) == [("new", 1)] * 3  # the delivery was counted, nothing stored
    config = load_config(config_dir, {})
    processor = Processor(config=config, classifier=compile_watchlists(config.watchlists))
    report = process_articles(database, processor, ids, lambda: NOW)
    assert (report.processed, report.duplicates, report.alerts) == (3, 1, 2)
    stored = _rows(database)
    assert stored[1:] == (3, 3, 2, 2)  # sketches, matches, stories, alerts
    with database.session() as session:
        per_article = session.execute(select(StoryBandRow.article_id, func.count())
                                      .group_by(StoryBandRow.article_id)).all()
        story_of = dict(session.execute(select(ArticleRow.id, ArticleRow.story_id)).all())
    assert sorted(a for a, _ in per_article) == sorted(ids)
    assert sum(n for _, n in per_article) == stored[0]
    assert story_of[ids[0]] == story_of[ids[1]] != story_of[ids[2]]
    again = process_articles(database, processor, ids, lambda: NOW)
    assert (again.processed, again.skipped) == (0, 3)
    assert _rows(database) == stored
    database.close()


def test_the_claim_log_names_each_batch_s_articles_under_its_transaction_and_is_pruned(
    pg_url: str,
) -> None:
    database = Database.open(pg_url)
    batches = [[_add(database, "outlet", f"{b}{n}", f"Title {b}{n}",
                     sentences(VOCABULARY[n * 30 + b * 300 : n * 30 + b * 300 + 25]))
                for n in range(3)] for b in range(2)]
    for ids in batches:
        _commit(database, [_item(a, f"Title {a}", sentences(VOCABULARY[a : a + 25]))
                           for a in ids])
    with database.session() as session:
        logged = session.execute(select(ClaimLogRow.xact, ClaimLogRow.article_id)).all()
    by_xact: dict[int, set[int]] = {}
    for xact, article in logged:
        by_xact.setdefault(xact, set()).add(article)
    assert sorted(by_xact.values(), key=min) == [set(ids) for ids in batches]
    with database.engine.begin() as connection:
        prune_index(connection, datetime(2000, 1, 1, tzinfo=UTC))
    assert _count(database, ClaimLogRow) == 6  # nothing that old
    with database.engine.begin() as connection:
        prune_index(connection, datetime.now(UTC) + timedelta(minutes=1))
    assert _count(database, ClaimLogRow) == 0
    database.close()


def test_pruning_deletes_the_band_rows_of_old_articles_by_the_keys_in_their_sketch_rows(
    database: Database,
) -> None:
    """story_bands has no index by article (migration 0019p): pruning finds an old
    article's rows by the keys its sketch row keeps; a newer article keeps all of its
    rows, and on PostgreSQL the batch transaction's planner settings come back."""
    old, new = (_add(database, "outlet", f"p{n}", f"Title p{n}",
                     sentences(VOCABULARY[n * 40 : n * 40 + 30])) for n in range(2))
    for article, when in ((old, NOW), (new, NOW + timedelta(days=2))):
        item = _item(article, f"Title {article}", sentences(VOCABULARY[article * 40:][:30]))
        _commit(database, [replace(item, now=when)])
    with database.session() as session:
        before = dict(session.execute(select(StoryBandRow.article_id, func.count())
                                      .group_by(StoryBandRow.article_id)).all())
    assert set(before) == {old, new} and min(before.values()) > 10
    with database.engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        assert prune_index(connection, NOW + timedelta(days=1)) == 1
        if postgres:
            assert connection.exec_driver_sql("SHOW enable_seqscan").scalar_one() == "off"
    with database.session() as session:
        after = dict(session.execute(select(StoryBandRow.article_id, func.count())
                                     .group_by(StoryBandRow.article_id)).all())
    assert after == {new: before[new]}
