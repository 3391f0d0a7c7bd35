"""Hot reload: a valid change is picked up, an invalid one keeps the last good config."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from service.config import ConfigError, load_config
from service.domain import Document
from service.reload import config_changes
from workers.context import WorkerContext

WATCHLIST = """
entities:
  - {{id: who, name: {name}}}
subscriptions:
  - {{id: s, notify: ["console://"], entities: [who]}}
"""


def _config_dir(tmp_path: Path, name: str = "Ilham Aliyev") -> Path:
    (tmp_path / "watchlists").mkdir(exist_ok=True)
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "newswatch.yaml").write_text(f"database_url: sqlite:///{tmp_path / 'n.db'}\n")
    (tmp_path / "watchlists" / "w.yaml").write_text(WATCHLIST.format(name=name))
    return tmp_path


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # a distinct mtime even on coarse file systems
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _entities(context: WorkerContext, text: str) -> set[str]:
    return set(context.processor.classifier.classify(Document(text, "", "")).ids("entity"))


def test_worker_context_picks_up_a_valid_change_and_refuses_a_bad_one(tmp_path: Path) -> None:
    root = _config_dir(tmp_path)
    context = WorkerContext.load(load_config(root, {}))
    assert context.refreshed() is context  # nothing changed
    assert _entities(context, "Macron spoke") == set()

    _rewrite(root / "watchlists" / "w.yaml", WATCHLIST.format(name="Emmanuel Macron"))
    renewed = context.refreshed()
    assert _entities(renewed, "Emmanuel Macron spoke") == {"who"}

    _rewrite(root / "watchlists" / "w.yaml", "entities: [{id: who, colour: red}]\n")
    kept = renewed.refreshed()
    assert kept is renewed
    assert _entities(kept, "Emmanuel Macron spoke") == {"who"}


async def _edit_until(path: Path, text: str, done: asyncio.Event) -> None:
    """Write ``text`` until ``done`` (the watcher may start after the first write)."""
    for _ in range(100):
        path.write_text(text)
        try:
            await asyncio.wait_for(done.wait(), timeout=0.5)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"the watcher never saw {path}")


async def test_watcher_yields_valid_changes_and_reports_invalid_ones(tmp_path: Path) -> None:
    root = _config_dir(tmp_path)
    refused: list[ConfigError] = []
    was_refused, changed = asyncio.Event(), asyncio.Event()

    def on_invalid(error: ConfigError) -> None:
        refused.append(error)
        was_refused.set()

    stop = asyncio.Event()
    changes = config_changes(root, {}, load_config(root, {}), on_invalid, stop)
    received: list[object] = []

    async def consume() -> None:
        async for config in changes:
            received.append(config)
            changed.set()

    consumer = asyncio.ensure_future(consume())
    watchlist = root / "watchlists" / "w.yaml"
    await _edit_until(watchlist, "entities: [{id: who, colour: red}]\n", was_refused)
    assert "colour" in str(refused[0]) and received == []  # refused, nothing applied
    await _edit_until(watchlist, WATCHLIST.format(name="Théo Clerc"), changed)
    assert [c.watchlists.entities[0].name for c in received] == ["Théo Clerc"]  # type: ignore[attr-defined]
    stop.set()
    await asyncio.wait_for(consumer, timeout=30)
