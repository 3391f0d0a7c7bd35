"""Two worker processes handling two copies of one story at the same instant.

Each round, two processes (real, separate interpreters, each with its own
connection pool) wait on a barrier and then run the pipeline's
``process_articles`` on one copy each, against the real PostgreSQL: the
story claim must still give one story and one alert per round. And the one
interleaving a race may or may not hit, forced: a batch reads the story index
(before its claim locks), another batch stores a copy and commits, and only
then does the first take the locks: it must join that copy's story.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from service.config import load_config
from service.config.models import DedupSettings, FeedConfig
from service.dedup import near_duplicate
from service.domain import FeedEntry
from service.matching.classifier import compile_watchlists
from service.pipeline import Processor, is_transient, process_articles
from service.storage import ArticleStore, Database, FeedStore, processing
from service.storage.articles import ProcessedArticle, ProcessedOutcome
from service.storage.models import AlertRow, ArticleRow, StoryRow
from tests.story_texts import VOCABULARY, Story, sentences

NOW = datetime.now(UTC).replace(microsecond=0)
ROUNDS = 8
WATCHLIST = {
    "entities": [{"id": "karabakh", "name": "Karabakh"}],
    "subscriptions": [{"id": "desk", "notify": ["json://127.0.0.1:9/"], "entities": ["karabakh"]}],
}


def _config_dir(tmp_path: Path, pg_url: str) -> Path:
    directory = tmp_path / "config"
    (directory / "watchlists").mkdir(parents=True)
    feeds = {"feeds": [{"url": "https://a.example/feed"}, {"url": "https://b.example/feed"}]}
    (directory / "feeds.yaml").write_text(json.dumps(feeds), encoding="utf-8")
    (directory / "newswatch.yaml").write_text(json.dumps({"database_url": pg_url}), "utf-8")
    (directory / "watchlists" / "k.yaml").write_text(json.dumps(WATCHLIST), encoding="utf-8")
    return directory


def _copies(round_number: int) -> tuple[FeedEntry, FeedEntry]:
    base = 1000 + round_number * 200
    story = Story(sentences(VOCABULARY[base : base + 8]),
                  ["Karabakh", *VOCABULARY[base + 10 : base + 150]])
    headline = sentences(VOCABULARY[base + 160 : base + 170])
    one = FeedEntry(guid=f"a{round_number}", url=None, title=story.title,
                    summary="", content=story.text("Subscribe to the Outlet."), published=NOW)
    two = FeedEntry(guid=f"b{round_number}", url=None, title=headline, summary="",
                    content=story.copy(headline, "BAKU (Wire)", "(c) Wire"), published=NOW)
    return one, two


def _store_entries(database: Database, config_dir: Path) -> list[tuple[int, int]]:
    feeds = FeedStore(database).sync(
        [FeedConfig(url="https://a.example/feed"), FeedConfig(url="https://b.example/feed")], NOW
    )
    articles = ArticleStore(database)
    pairs = []
    for n in range(ROUNDS):
        one, two = _copies(n)
        (a,) = articles.add_entries(feeds["https://a.example/feed"].id, [one], NOW)
        (b,) = articles.add_entries(feeds["https://b.example/feed"].id, [two], NOW)
        pairs.append((a, b))
    return pairs


def _worker(config_dir: str, batches: list[list[int]], barrier: Any, results: Any) -> None:
    config = load_config(config_dir, {})
    processor = Processor(config=config, classifier=compile_watchlists(config.watchlists))
    database = Database.open(config.settings.database_url)
    try:
        for batch in batches:
            barrier.wait(timeout=60)
            report = process_articles(database, processor, batch, lambda: NOW)
            results.put((batch, report.processed, report.errors))
    finally:
        database.close()


def _race(config_dir: Path, batches: tuple[list[list[int]], list[list[int]]]) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_worker, args=(str(config_dir), b, barrier, results))
               for b in batches]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in range(sum(len(b) for b in batches))]
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    return outcomes


def _stories_and_alerts(database: Database) -> tuple[dict[int, int | None], int]:
    with database.session() as session:
        story_of = dict(session.execute(select(ArticleRow.id, ArticleRow.story_id)).all())
        alerts = session.scalar(select(func.count()).select_from(AlertRow))
    return story_of, int(alerts or 0)


def test_two_processes_claiming_two_copies_at_once_make_one_story_and_one_alert(
    tmp_path: Path, pg_url: str
) -> None:
    config_dir = _config_dir(tmp_path, pg_url)
    database = Database.open(pg_url)
    pairs = _store_entries(database, config_dir)
    outcomes = _race(config_dir, ([[a] for a, _ in pairs], [[b] for _, b in pairs]))
    assert all(processed == 1 and not errors for _, processed, errors in outcomes)
    story_of, alerts = _stories_and_alerts(database)
    database.close()
    assert all(story_of[a] == story_of[b] for a, b in pairs)
    assert len({story_of[a] for a, _ in pairs}) == ROUNDS
    assert alerts == ROUNDS


def test_two_processes_storing_batches_of_copies_in_opposite_orders_make_one_story_each(
    tmp_path: Path, pg_url: str
) -> None:
    """Each batch is one transaction holding its locks to the end: claimed in
    opposite orders they must neither deadlock nor split a story."""
    config_dir = _config_dir(tmp_path, pg_url)
    database = Database.open(pg_url)
    pairs = _store_entries(database, config_dir)
    ones, twos = [a for a, _ in pairs], [b for _, b in pairs]
    outcomes = _race(config_dir, ([ones], [list(reversed(twos))]))
    assert sorted(processed for _, processed, _ in outcomes) == [ROUNDS, ROUNDS]
    assert all(not errors for _, _, errors in outcomes)
    story_of, alerts = _stories_and_alerts(database)
    database.close()
    assert all(story_of[a] == story_of[b] for a, b in pairs)
    assert len({story_of[a] for a, _ in pairs}) == ROUNDS
    assert alerts == ROUNDS


def _stored(database: Database, article_id: int, entry: FeedEntry) -> ProcessedOutcome:
    item = ProcessedArticle(article_id, story_keys=(), matches=(), subscription_ids=["desk"],
                            now=NOW, near=near_duplicate(DedupSettings(), entry.title,
                                                         entry.content, NOW))
    (outcome,) = ArticleStore(database).commit_batch([item], transient=is_transient)
    assert isinstance(outcome, ProcessedOutcome)
    return outcome


def test_a_copy_committed_after_the_index_read_and_before_the_claim_locks_is_joined(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.open(pg_url)
    pairs = _store_entries(database, Path())
    one, two = _copies(0)
    read, go = threading.Event(), threading.Event()
    take_locks = processing._lock_claims

    def held_back(connection: Connection, *args: Any) -> None:
        if threading.current_thread().name == "late":  # its index read is done
            read.set()
            assert go.wait(timeout=60)
        take_locks(connection, *args)

    monkeypatch.setattr(processing, "_lock_claims", held_back)
    outcomes: list[ProcessedOutcome] = []
    late = threading.Thread(target=lambda: outcomes.append(_stored(database, pairs[0][0], one)),
                            name="late")
    late.start()
    try:
        assert read.wait(timeout=60)
        early = _stored(database, pairs[0][1], two)  # stored and committed meanwhile
    finally:
        go.set()
        late.join(timeout=60)
    (joined,) = outcomes
    assert (joined.story_id, joined.duplicate, joined.alerts_created) == (early.story_id, True, 0)
    with database.session() as session:
        stories = session.scalar(select(func.count()).select_from(StoryRow))
        alerts = session.scalar(select(func.count()).select_from(AlertRow))
    database.close()
    assert (stories, alerts) == (1, 1)
