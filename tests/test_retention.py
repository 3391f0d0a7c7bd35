"""Retention: old processed articles lose their text, keep their rows, and never alert again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from service import upkeep
from service.cli import app
from service.config import ConfigError, load_config
from service.config.models import (
    Config,
    FeedConfig,
    RetentionSettings,
    Settings,
    Watchlists,
)
from service.domain import FeedEntry
from service.matching.classifier import compile_watchlists
from service.pipeline import Processor, process_articles
from service.storage import ArticleStore, Database, FeedStore
from service.storage.models import AlertRow, ArticleRow
from service.storage.retention import ArticleTextRetention
from service.upkeep import drop_old_text
from tests.clock import Clock
from tests.waiting import async_wait_until

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FEED = FeedConfig(url="https://outlet.example/feed", name="Outlet")
TEXT = "Ilham Aliyev pardoned the French national Théo Clerc on Tuesday in Baku."
WATCHLISTS = Watchlists.model_validate({
    "entities": [{"id": "ilham-aliyev", "name": "Ilham Aliyev"}],
    "subscriptions": [{"id": "desk", "notify": ["json://127.0.0.1:9/"],
                       "entities": ["ilham-aliyev"]}],
})


def _processor() -> Processor:
    config = Config(directory="test", settings=Settings(), feeds=(FEED,), watchlists=WATCHLISTS,
                    version="1")
    return Processor(config=config, classifier=compile_watchlists(config.watchlists))


def _entry(n: int, at: datetime) -> FeedEntry:
    return FeedEntry(f"guid-{n}", f"https://outlet.example/a/{n}", f"Pardon {n}",
                     f"Summary {n}.", f"{TEXT} Story number {n}.", at)


def _store(database: Database, entries: list[tuple[int, datetime]], *, process: bool = True
           ) -> list[int]:
    """Entries fetched at their times (and processed then): their article ids."""
    feed_id = FeedStore(database).sync([FEED], T0)[FEED.url].id
    ids: list[int] = []
    for n, at in entries:
        new = ArticleStore(database).add_entries(feed_id, [_entry(n, at)], at)
        if process:
            process_articles(database, _processor(), new, Clock(at))
        ids.extend(new)
    return ids


def _texts(database: Database) -> dict[int, tuple[str, str, str, str | None]]:
    with database.session() as session:
        rows = session.execute(select(ArticleRow.id, ArticleRow.state, ArticleRow.summary,
                                      ArticleRow.content, ArticleRow.title)).all()
    return {row.id: (row.state, row.summary, row.content, row.title) for row in rows}


def test_old_processed_articles_lose_their_text_and_keep_their_rows(database: Database) -> None:
    old, young = _store(database, [(1, T0), (2, T0 + timedelta(days=40))])
    (waiting,) = _store(database, [(3, T0 + timedelta(days=1))], process=False)
    dropped = ArticleTextRetention(database).compact(T0 + timedelta(days=30))
    assert dropped == 1
    texts = _texts(database)
    assert texts[old] == ("processed", "", "", "Pardon 1")  # the title and the row stay
    assert texts[young][1:3] == ("Summary 2.", f"{TEXT} Story number 2.")
    assert texts[waiting] == ("new", "Summary 3.", f"{TEXT} Story number 3.", "Pardon 3")
    assert ArticleTextRetention(database).compact(T0 + timedelta(days=30)) == 0


def test_a_repoll_of_a_compacted_article_is_not_new_and_does_not_alert(
    database: Database,
) -> None:
    (old,) = _store(database, [(1, T0)])
    with database.session() as session:
        assert session.scalars(select(AlertRow.article_id)).all() == [old]
    ArticleTextRetention(database).compact(T0 + timedelta(days=100))
    later = T0 + timedelta(days=101)
    feed_id = FeedStore(database).sync([FEED], later)[FEED.url].id
    assert ArticleStore(database).add_entries(feed_id, [_entry(1, T0)], later) == []
    with database.session() as session:
        assert session.scalars(select(AlertRow.article_id)).all() == [old]


def test_batches_go_on_until_the_first_young_article(database: Database) -> None:
    days = [0, 1, 2, 3, 50, 4, 5]  # the sixth article arrived after a young one
    ids = _store(database, [(n, T0 + timedelta(days=d)) for n, d in enumerate(days)])
    retention = ArticleTextRetention(database, batch=2)
    assert retention.compact(T0 + timedelta(days=30)) == 4
    texts = _texts(database)
    assert [texts[i][2] == "" for i in ids] == [True] * 4 + [False] * 3
    # once the young one is old too, the pass goes on from where it stopped
    assert retention.compact(T0 + timedelta(days=60)) == 3
    assert all(text[2] == "" for text in _texts(database).values())


def test_upkeep_keeps_text_forever_when_retention_is_null(database: Database) -> None:
    _store(database, [(1, T0)])
    retention = ArticleTextRetention(database)
    assert drop_old_text(retention, RetentionSettings(article_text=None), T0 + timedelta(1000)) == 0
    assert drop_old_text(retention, RetentionSettings(), T0 + timedelta(days=89)) == 0
    stopping = drop_old_text(retention, RetentionSettings(), T0 + timedelta(days=91), lambda: True)
    assert stopping == 0  # a shutdown asked before the first batch: nothing done
    assert drop_old_text(retention, RetentionSettings(), T0 + timedelta(days=91)) == 1


def _config_dir(tmp_path: Path, retention: str) -> Path:
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "newswatch.yaml").write_text(
        f"database_url: sqlite:///{tmp_path}/nw.db\nretention:\n  article_text: {retention}\n")
    return tmp_path


def test_cli_compacts_now_and_says_how_many(tmp_path: Path) -> None:
    directory = _config_dir(tmp_path, "null")
    database = Database.open(f"sqlite:///{tmp_path}/nw.db")
    now = datetime.now(UTC)
    _store(database, [(1, now - timedelta(days=10)), (2, now)])
    database.close()
    runner = CliRunner()
    refused = runner.invoke(app, ["db", "compact", "--config", str(directory)])
    assert refused.exit_code == 2 and "give --older-than" in refused.output
    done = runner.invoke(app, ["db", "compact", "--config", str(directory), "--older-than", "5d"])
    assert done.exit_code == 0, done.output
    assert "text dropped from 1 articles" in done.output


def test_a_bad_retention_names_file_line_and_key(tmp_path: Path) -> None:
    directory = _config_dir(tmp_path, "soon")
    with pytest.raises(ConfigError) as caught:
        load_config(directory, {})
    (problem,) = map(str, caught.value.problems)
    assert problem.startswith(f"{directory / 'newswatch.yaml'}:3: retention.article_text:")
    assert "not a duration: 'soon'" in problem


def test_the_run_process_upkeep_drops_old_text_until_stopped(
    database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upkeep, "FIRST_UPKEEP_AFTER", timedelta(0))
    (old,) = _store(database, [(1, T0)])

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(upkeep.upkeep_until(
            stop, database, lambda: RetentionSettings(article_text=timedelta(days=1)),
            lambda: T0 + timedelta(days=2)))
        await async_wait_until(lambda: _texts(database)[old][2] == "", "the old text dropped")
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    asyncio.run(run())
    assert _texts(database)[old][1:3] == ("", "")
