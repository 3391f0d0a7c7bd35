"""Every failed poll is kept with its kind and message (pruned), not only the last one.

On SQLite and PostgreSQL (the ``database`` fixture), through the real poller
against a local server, and as `newswatch feeds history URL` shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app
from service.config.models import FeedConfig
from service.storage import Database, FeedStore
from service.storage.feeds import FAILURES_KEPT, FAILURES_MAX_AGE

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
URL = "https://a.example/feed.xml"


def _store(database: Database) -> tuple[FeedStore, int]:
    store = FeedStore(database)
    store.register([FeedConfig(url=URL), FeedConfig(url="https://b.example/")], NOW)
    state = store.state(URL)
    assert state is not None
    return store, state.id


def _fail(store: FeedStore, feed_id: int, at: datetime, kind: str, message: str,
          status: int | None = None) -> None:
    store.record_failure(feed_id, at, kind=kind, message=message, status=status,
                         next_poll_at=at + timedelta(minutes=5))


def test_each_failure_is_kept_with_kind_status_and_message(database: Database) -> None:
    store, feed_id = _store(database)
    _fail(store, feed_id, NOW, "dns", "no such host: a.example")
    _fail(store, feed_id, NOW + timedelta(minutes=5), "http", "HTTP 503", status=503)
    _fail(store, feed_id, NOW + timedelta(minutes=15), "refused-private",
          "a.example resolves to 10.0.0.1, a private address")
    history = store.failures(URL)
    assert [(f.kind, f.status, f.message, f.at) for f in history] == [
        ("refused-private", None, "a.example resolves to 10.0.0.1, a private address",
         NOW + timedelta(minutes=15)),
        ("http", 503, "HTTP 503", NOW + timedelta(minutes=5)),
        ("dns", None, "no such host: a.example", NOW),
    ]
    assert store.failures("https://b.example/") == []
    assert store.failures("https://unknown.example/") == []
    state = store.state(URL)
    assert state is not None and state.last_error_kind == "refused-private"


def test_history_keeps_the_newest_and_forgets_the_old(database: Database) -> None:
    store, feed_id = _store(database)
    other = store.state("https://b.example/")
    assert other is not None
    _fail(store, other.id, NOW - FAILURES_MAX_AGE - timedelta(days=1), "timeout", "slow")
    _fail(store, feed_id, NOW - FAILURES_MAX_AGE - timedelta(days=1), "timeout", "long ago")
    for minute in range(FAILURES_KEPT + 5):
        _fail(store, feed_id, NOW + timedelta(minutes=minute), "connect", f"refused {minute}")
    history = store.failures(URL, limit=1000)
    assert len(history) == FAILURES_KEPT
    assert history[0].message == f"refused {FAILURES_KEPT + 4}"
    assert history[-1].message == "refused 5"
    assert "long ago" not in {f.message for f in history}
    # pruning one feed leaves the other's history alone until it fails again
    assert [f.message for f in store.failures("https://b.example/")] == ["slow"]
    _fail(store, other.id, NOW, "timeout", "slow again")
    assert [f.message for f in store.failures("https://b.example/")] == ["slow again"]
    assert store.failures(URL, limit=3)[-1].message == f"refused {FAILURES_KEPT + 2}"


def test_feeds_history_shows_a_feed_s_failures(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    (config_dir / "watchlists").mkdir(parents=True)
    (config_dir / "feeds.yaml").write_text(f"feeds:\n  - url: {URL}\n    name: Feed A\n")
    (config_dir / "newswatch.yaml").write_text(f"database_url: sqlite:///{tmp_path / 'nw.db'}\n")
    database = Database.open(f"sqlite:///{tmp_path / 'nw.db'}")
    store = FeedStore(database)
    store.register([FeedConfig(url=URL, name="Feed A")], NOW)
    state = store.state(URL)
    assert state is not None
    feed_id = state.id
    _fail(store, feed_id, NOW, "too-large", "body larger than 15000000 bytes")
    _fail(store, feed_id, NOW + timedelta(hours=1), "parse", "not a feed: no items, no title")
    database.close()

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["feeds", *args, "--config", str(config_dir)],
                                    env={"COLUMNS": "250"})
        return result.exit_code, result.output

    code, shown = run("history", URL)
    unknown_code, _ = run("history", "https://nowhere.example/")
    assert code == 0, shown
    assert "Feed A" in shown and "2 in a row" in shown
    assert shown.index("parse") < shown.index("too-large")  # newest first
    assert "not a feed: no items, no title" in shown
    assert "body larger than 15000000 bytes" in shown
    assert unknown_code == 1
