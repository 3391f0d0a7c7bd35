"""`newswatch backtest`: what would have alerted, from a file or the database; sends
nothing and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import MetaData, select

from service.backtest import (
    BacktestArticle,
    BacktestInputError,
    read_input_file,
    read_stored,
    run_backtest,
)
from service.config.models import FeedConfig, Watchlists
from service.domain import Document, FeedEntry
from service.matching import compile_watchlists
from service.storage import ArticleStore, Database, FeedStore
from tests.conftest import ROOT
from tests.feedserver import FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)
PARDON = "Ilham Aliyev pardoned the French national Théo Clerc on Tuesday."
WATCHLIST = {
    "entities": [
        {"id": "ilham-aliyev", "name": "Ilham Aliyev", "aliases": ["Aliyev"]},
        {"id": "theo-clerc", "name": "Théo Clerc"},
    ],
    "events": [{"id": "pardon", "triggers": ["pardon*"]}],
    "topics": [{"id": "baku", "query": "Baku OR Aliyev"}],
    "subscriptions": [
        {"id": "pardon-watch", "notify": ["console://"], "events": ["pardon"],
         "entities": ["theo-clerc"]},
        {"id": "baku-desk", "notify": ["console://"], "topics": ["baku"]},
    ],
}  # fmt: skip


def _article(title: str, url: str | None, content: str = PARDON) -> BacktestArticle:
    return BacktestArticle(title, url, "Wire", NOW, Document(title, "", content))


def test_one_alert_per_subscription_and_story_with_relevant_matches() -> None:
    classifier = compile_watchlists(Watchlists.model_validate(WATCHLIST))
    subscriptions = Watchlists.model_validate(WATCHLIST).subscriptions
    articles = [
        _article("Pardon", "https://a.example/story?utm_source=rss"),
        _article("Pardon", "https://a.example/story"),  # the same story: a copy
        _article("Other", "https://b.example/other", "Aliyev spoke in Baku."),
    ]
    report = run_backtest(classifier, subscriptions, articles)
    assert report.articles == 3
    pardon, baku = report.subscriptions
    assert pardon.subscription_id == "pardon-watch"
    assert [(a.article.url, a.copies) for a in pardon.alerts] == [
        ("https://a.example/story?utm_source=rss", 1)
    ]
    assert [m.id for m in pardon.alerts[0].matches] == ["theo-clerc", "pardon"]
    assert [a.article.title for a in baku.alerts] == ["Pardon", "Other"]
    assert [m.id for m in baku.alerts[1].matches] == ["baku"]


def test_reads_json_lines_json_arrays_and_feeds(tmp_path: Path) -> None:
    lines = tmp_path / "a.jsonl"
    lines.write_text(
        json.dumps({"title": "T1", "link": "https://x.example/1", "description": "<p>A &amp; B</p>",
                    "date_published": "2023-05-27 10:00:00+00:00", "source": "S"}) + "\n\n"
        + json.dumps({"title": "T2", "content": ["Para one.", "Para two."]}) + "\n"
    )  # fmt: skip
    first, second = read_input_file(lines)
    assert (first.title, first.url, first.source) == ("T1", "https://x.example/1", "S")
    assert first.document.summary == "A & B"
    assert first.published == datetime(2023, 5, 27, 10, tzinfo=UTC)
    assert second.document.content == "Para one.\nPara two."
    array = tmp_path / "a.json"
    array.write_text(json.dumps([{"title": "T1"}, {"title": "T2"}, "not an object"]))
    assert [a.title for a in read_input_file(array)] == ["T1", "T2"]
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>Wire</title><item><title>Pardon</title>'
        "<link>https://w.example/p</link><description>Aliyev pardoned Théo Clerc."
        "</description></item></channel></rss>"
    )
    (item,) = read_input_file(feed)
    assert (item.source, item.url, item.document.summary) == (
        "Wire", "https://w.example/p", "Aliyev pardoned Théo Clerc."
    )


def test_unreadable_input_is_an_error_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "ok"}\n{"title": \n')
    with pytest.raises(BacktestInputError, match="line 2: invalid JSON"):
        read_input_file(bad)
    with pytest.raises(BacktestInputError, match="not JSON lines"):
        read_input_file(_write(tmp_path / "x.txt", "just some words"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _config(tmp_path: Path, database_url: str, notify: str = "console://") -> Path:
    directory = tmp_path / "config"
    (directory / "watchlists").mkdir(parents=True)
    (directory / "feeds.yaml").write_text("feeds:\n  - url: https://feeds.example/rss\n")
    watchlist = json.loads(json.dumps(WATCHLIST))
    for subscription in watchlist["subscriptions"]:
        subscription["notify"] = [notify]
    (directory / "watchlists" / "w.yaml").write_text(yaml.safe_dump(watchlist))
    (directory / "newswatch.yaml").write_text(f"database_url: {database_url}\n")
    return directory


def _backtest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "backtest", str(config), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )  # fmt: skip


@pytest.fixture
def inbox() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.reply("/alerts", b"{}")
        yield server


def test_cli_over_a_file_prints_evidence_and_sends_nothing(
    tmp_path: Path, inbox: FeedServer
) -> None:
    notify = f"json://127.0.0.1:{inbox.port}/alerts"
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'none.db'}", notify)
    articles = _write(tmp_path / "in.jsonl", json.dumps(
        {"title": "Pardon in Baku", "link": "https://a.example/p", "content": PARDON}
    ))  # fmt: skip
    result = _backtest(config, "--input", str(articles), "--subscription", "pardon-watch")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "backtest over 1 articles" in out
    assert "subscription pardon-watch: 1 alerts" in out
    assert "baku-desk" not in out
    assert "event pardon with ilham-aliyev, theo-clerc" in out
    assert "**Ilham Aliyev** **pardoned** the French national **Théo Clerc**" in out
    assert inbox.requests == []
    assert not (tmp_path / "none.db").exists()


def _snapshot(database: Database) -> dict[str, list[tuple[object, ...]]]:
    metadata = MetaData()
    metadata.reflect(database.engine)
    with database.engine.connect() as connection:
        return {
            name: sorted(map(tuple, connection.execute(select(table))), key=repr)
            for name, table in metadata.tables.items()
        }


def test_cli_over_stored_articles_changes_nothing(database: Database, tmp_path: Path) -> None:
    feed_id = FeedStore(database).sync([FeedConfig(url="https://feeds.example/rss")], NOW)[
        "https://feeds.example/rss"
    ].id
    old = FeedEntry("g0", "https://a.example/old", "Old pardon", "", PARDON, NOW)
    new = FeedEntry("g1", "https://a.example/new", "New pardon", "", PARDON, NOW)
    articles = ArticleStore(database)
    articles.add_entries(feed_id, [old], NOW - timedelta(days=30))
    articles.add_entries(feed_id, [new], NOW - timedelta(hours=1))
    before = _snapshot(database)
    url = database.engine.url.render_as_string(hide_password=False)
    result = _backtest(_config(tmp_path, url), "--since", "2d")
    assert result.returncode == 0, result.stderr
    assert "backtest over 1 articles" in result.stdout
    assert "New pardon" in result.stdout and "Old pardon" not in result.stdout
    assert _snapshot(database) == before
    stored = read_stored(database, NOW - timedelta(days=60))
    assert [a.title for a in stored] == ["Old pardon", "New pardon"]
    assert stored[0].source == "https://feeds.example/rss"


def test_cli_refuses_a_missing_sqlite_file_without_creating_it(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'missing.db'}")
    result = _backtest(config)
    assert result.returncode == 3
    assert "no database file" in result.stderr
    assert not (tmp_path / "missing.db").exists()


def test_cli_bad_configuration_exits_2(tmp_path: Path) -> None:
    config = _config(tmp_path, "sqlite:///x.db")
    (config / "watchlists" / "w.yaml").write_text("topics:\n  - {id: t, query: 'Baku AND'}\n")
    result = _backtest(config, "--input", str(_write(tmp_path / "e.jsonl", "{}")))
    assert result.returncode == 2
    assert "w.yaml:2:29: topics[0].query: invalid query" in result.stderr  # after "AND"
