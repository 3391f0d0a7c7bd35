"""`newswatch stories --since 1d` lists stories with their outlets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app
from service.config.models import DedupSettings, FeedConfig
from service.dedup import near_duplicate
from service.domain import Classification, FeedEntry
from service.storage import ArticleStore, Database, FeedStore
from tests.story_texts import VOCABULARY, Story, sentences

STORY = Story(title="Karabakh offensive: " + sentences(VOCABULARY[0:6]), body=VOCABULARY[10:150])


def _publish(database: Database, url: str, name: str, title: str, text: str,
             now: datetime) -> None:
    feed = FeedStore(database).sync([FeedConfig(url=url, name=name)], now)[url]
    entry = FeedEntry(guid=title, url=None, title=title, summary="", content=text, published=now)
    (article_id,) = ArticleStore(database).add_entries(feed.id, [entry], now)
    articles = ArticleStore(database)
    assert articles.begin_attempt(article_id) is not None
    articles.commit_processed(
        article_id, story_keys=[], classification=Classification(()), subscription_ids=[],
        now=now, near=near_duplicate(DedupSettings(), title, text, now),
    )


def test_stories_lists_recent_stories_with_their_outlets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    (tmp_path / "newswatch.yaml").write_text(json.dumps({"database_url": url}), "utf-8")
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", "utf-8")
    now = datetime.now(UTC)
    database = Database.open(url)
    _publish(database, "https://a.example/f", "Outlet A", STORY.title, STORY.text(), now)
    _publish(database, "https://b.example/f", "Wire B", "Other headline",
             STORY.copy("", "BAKU", "(c) Wire"), now)
    _publish(database, "https://a.example/f", "Outlet A", "Old news",
             sentences(VOCABULARY[300:340]), now - timedelta(days=3))
    database.close()
    result = CliRunner().invoke(
        app, ["stories", "--config", str(tmp_path), "--since", "1d"], terminal_width=300
    )
    assert result.exit_code == 0, result.output
    assert "Karabakh" in result.output and "Old news" not in result.output
    first_row = next(line for line in result.output.splitlines() if "Karabakh" in line)
    assert "Outlet A," in first_row and "│ 2 " in first_row  # two articles, outlets in order
    assert "Wire B" in result.output
