"""`newswatch feeds import/export/status/enable` on a real configuration directory
and a real SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import listparser
import pytest
from typer.testing import CliRunner

from service.cli import app
from service.config import load_config
from service.poller.opml import OpmlFeed, read_opml, write_opml
from service.storage.database import Database
from service.storage.feeds import FeedStore

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE opml [<!ENTITY boom "boom">]>
<opml version="2.0">
  <head><title>Exported from a reader</title></head>
  <body>
    <outline text="News">
      <outline type="rss" text="AzerNews" xmlUrl="https://www.azernews.az/rss.xml"/>
      <outline type="rss" text="Le Monde ${HOME}" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
    </outline>
    <outline type="rss" text="AzerNews again" xmlUrl="https://www.azernews.az/rss.xml"/>
    <outline type="rss" text="Local file" xmlUrl="file:///etc/passwd"/>
    <outline type="rss" text="Already here" xmlUrl="https://example.org/rss.xml"/>
  </body>
</opml>
"""
FEEDS_YAML = "# our feeds\nfeeds:\n  - url: https://example.org/rss.xml  # the first\n"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    (directory / "watchlists").mkdir(parents=True)
    (directory / "feeds.yaml").write_text(FEEDS_YAML)
    (directory / "newswatch.yaml").write_text(f"database_url: sqlite:///{tmp_path / 'nw.db'}\n")
    return directory


def run(config_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["feeds", *args, "--config", str(config_dir)],
                                env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_import_adds_new_valid_feeds_and_keeps_the_file_s_comments(
    config_dir: Path, tmp_path: Path
) -> None:
    opml = tmp_path / "list.opml"
    opml.write_bytes(OPML)

    code, output = run(config_dir, "import", str(opml))

    assert code == 0, output
    assert "2 feeds added" in output and "1 already there" in output and "1 skipped" in output
    text = (config_dir / "feeds.yaml").read_text()
    assert text.startswith(FEEDS_YAML)
    feeds = load_config(config_dir, {}).feeds
    assert [(f.url, f.name) for f in feeds] == [
        ("https://example.org/rss.xml", None),
        ("https://www.azernews.az/rss.xml", "AzerNews"),
        ("https://www.lemonde.fr/rss/une.xml", "Le Monde ${HOME}"),  # not substituted
    ]


def test_importing_twice_adds_nothing_the_second_time(config_dir: Path, tmp_path: Path) -> None:
    opml = tmp_path / "list.opml"
    opml.write_bytes(OPML)
    run(config_dir, "import", str(opml))
    before = (config_dir / "feeds.yaml").read_text()

    code, output = run(config_dir, "import", str(opml))

    assert code == 0 and "0 feeds added" in output
    assert (config_dir / "feeds.yaml").read_text() == before


def test_import_into_an_empty_flow_list(config_dir: Path, tmp_path: Path) -> None:
    (config_dir / "feeds.yaml").write_text("feeds: []\n")
    opml = tmp_path / "list.opml"
    opml.write_bytes(OPML)

    code, _ = run(config_dir, "import", str(opml))

    assert code == 0
    assert len(load_config(config_dir, {}).feeds) == 3


def test_a_file_that_is_no_opml_is_refused(config_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.opml"
    junk.write_bytes(b"\x00\x01 not xml at all <<<")

    code, output = run(config_dir, "import", str(junk))

    assert code == 2 and "cannot import" in output
    assert (config_dir / "feeds.yaml").read_text() == FEEDS_YAML


def test_export_writes_opml_2_that_reads_back(config_dir: Path, tmp_path: Path) -> None:
    (config_dir / "feeds.yaml").write_text(
        "feeds:\n  - url: https://a.example/rss\n    name: Ä & <B>\n  - url: https://b.example/atom\n")
    out = tmp_path / "out.opml"

    code, output = run(config_dir, "export", "--output", str(out))

    assert code == 0, output
    parsed = listparser.parse(out.read_bytes())
    assert parsed.version == "opml2"
    assert [(f.url, f.title) for f in parsed.feeds] == [
        ("https://a.example/rss", "Ä & <B>"), ("https://b.example/atom", "https://b.example/atom")]


def test_write_then_read_opml_round_trips() -> None:
    feeds = [OpmlFeed("https://a.example/rss", "A"), OpmlFeed("https://b.example/x", None)]

    again = read_opml(write_opml(feeds, "t", NOW))

    assert again.feeds == (feeds[0], OpmlFeed("https://b.example/x", "https://b.example/x"))
    assert again.invalid == ()


def feed_store(config_dir: Path) -> tuple[Database, FeedStore]:
    config = load_config(config_dir, {})
    database = Database.open(config.settings.database_url)
    store = FeedStore(database)
    store.sync(config.feeds, NOW)
    return database, store


def test_status_shows_each_feed_s_state_and_enable_revives_a_disabled_one(
    config_dir: Path,
) -> None:
    (config_dir / "feeds.yaml").write_text(
        "feeds:\n  - url: https://ok.example/rss\n    name: Fine Feed\n"
        "  - url: https://gone.example/rss\n    name: Gone Feed\n")
    database, store = feed_store(config_dir)
    states = store.states()
    store.record_not_modified(states["https://ok.example/rss"].id, NOW,
                              NOW + timedelta(minutes=15))
    store.record_failure(states["https://gone.example/rss"].id, NOW, kind="http",
                         message="HTTP 410 Gone", status=410, next_poll_at=None,
                         disable_reason="the server says the feed is gone (HTTP 410)")
    database.close()

    code, table = run(config_dir, "status")
    enabled_code, enabled = run(config_dir, "enable", "https://gone.example/rss")
    unknown_code, _ = run(config_dir, "enable", "https://nowhere.example/rss")
    _, after = run(config_dir, "status")

    assert code == 0, table
    assert "Fine Feed" in table and "Gone Feed" in table
    assert "disabled" in table and "http: HTTP 410 Gone" in table
    assert enabled_code == 0 and "enabled" in enabled
    assert unknown_code == 1
    assert "disabled" not in after


def test_a_private_feed_s_credentials_never_show_and_its_shown_url_enables_it(
    config_dir: Path,
) -> None:
    """The status table and ops messages write a nameless private feed's URL with its
    credentials as ***; that shown URL (what ops has) names the feed for `enable`."""
    private = "https://reader:Pa55word@news.example/rss?token=T0ken&page=1"
    (config_dir / "feeds.yaml").write_text(f"feeds:\n  - url: {private}\n")
    database, store = feed_store(config_dir)
    store.record_failure(store.states()[private].id, NOW, kind="http", message="HTTP 410 Gone",
                         status=410, next_poll_at=None, disable_reason="gone (HTTP 410)")
    database.close()

    code, table = run(config_dir, "status")
    shown = "https://reader:***@news.example/rss?token=***&page=1"
    enabled_code, enabled = run(config_dir, "enable", shown)
    _, after = run(config_dir, "status")

    assert code == 0, table
    assert "Pa55word" not in table and "T0ken" not in table
    assert "news.example/rss" in table and "disabled" in table
    assert enabled_code == 0, enabled
    assert "Pa55word" not in enabled and "disabled" not in after
