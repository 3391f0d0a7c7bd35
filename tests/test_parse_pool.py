"""The parse pool's workers start lean and before the first feed.

A spawned parse worker imports the module of the function it is handed
(``service.poller.fastparse``), and with it the ``service.poller`` package:
that must not bring the fetcher's aiohttp, the configuration models or numpy
(they cost ~0.5 s of CPU per worker, paid inside a short run's work).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
from pathlib import Path

from service.poll_resources import PollParts, PollResources
from service.poller import make_session, parse_feed, to_text
from service.storage import ArticleStore, Database, FeedStore
from tests.test_reload_poll_settings import NOW, _Dispatcher, _settings

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["aiohttp", "numpy", "pydantic", "sqlalchemy", "structlog", "yaml"]


def _imported_with(module: str) -> list[str]:
    code = (f"import sys, json, {module}; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    return list(json.loads(result.stdout))


def test_the_parse_workers_module_imports_no_fetcher_models_or_numpy() -> None:
    assert _imported_with("service.poller.fastparse") == []


def test_the_package_still_offers_its_names() -> None:
    assert make_session.__module__ == "service.poller.fetch"
    assert parse_feed.__module__ == "service.poller.parse"
    assert to_text("<p>a &amp; b</p>") == "a & b"
    assert _imported_with("service.poller") == []


async def test_the_parse_workers_are_running_once_the_poll_context_is_entered(
    tmp_path: Path,
) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'nw.db'}")
    parts = PollParts(_settings(1_000_000, "1m"), FeedStore(database), ArticleStore(database),
                      _Dispatcher(), lambda: NOW, random.Random(1))
    before = {p.pid for p in multiprocessing.active_children()}
    try:
        async with PollResources(parts):
            started = {p.pid for p in multiprocessing.active_children()} - before
            assert len(started) == max(1, os.cpu_count() or 1)
    finally:
        database.close()
