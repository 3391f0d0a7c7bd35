"""`newswatch run` without --once: polls each feed on its interval until a
signal, then stops cleanly (exit 0)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.scenario import WATCHLIST, AlertInbox, _rss_item, now_utc, scenario_env


class GrowingFeed:
    """An RSS feed whose items can be added while newswatch polls it."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._lock = threading.Lock()

    def add(self, guid: str, title: str, text: str) -> None:
        with self._lock:
            self._items.append(_rss_item(guid, f"https://ex.example/{guid}", title, text,
                                         now_utc()))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            items, etag = "".join(self._items), f'"v{len(self._items)}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        body = f'<rss version="2.0"><channel><title>Growing</title>{items}</channel></rss>'
        return web.Response(body=body.encode(), headers={"ETag": etag})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_polls_on_interval_and_stops_cleanly_on_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    feed = GrowingFeed()
    feed.add("one", "Macron speaks", "President Macron spoke in Paris.")
    with FeedServer() as server:
        server.add("/feed.xml", feed.handle)
        inbox = AlertInbox(server)
        config = tmp_path / "config"
        (config / "watchlists").mkdir(parents=True)
        (config / "watchlists" / "w.yaml").write_text(WATCHLIST)
        (config / "feeds.yaml").write_text(
            json.dumps({"feeds": [{"url": server.url("/feed.xml"), "interval": "1s"}]}))
        (config / "newswatch.yaml").write_text(json.dumps({
            "database_url": f"sqlite:///{tmp_path / 'nw.db'}",
            "fetch": {"allow_private_addresses": True}, "web": {"port": 0}}))
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "run", "--config", str(config),
             "--log-format", "json"],
            cwd=ROOT, env=scenario_env(inbox, config), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        try:
            first = inbox.wait_for(1, timeout=60)
            assert [a["title"] for a in first] == ["[newswatch] macron-watch: Macron speaks"]
            feed.add("two", "Macron travels", "Emmanuel Macron flew to Baku.")
            second = inbox.wait_for(3, timeout=60)  # macron-watch and desk
        finally:
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
    assert sorted(str(a["title"]) for a in second[1:]) == [
        "[newswatch] desk: Macron travels", "[newswatch] macron-watch: Macron travels"]
    assert process.returncode == 0, stderr
    assert "stopped cleanly" in stderr
    assert "Traceback" not in stderr
    polls = len(server.requests_to("/feed.xml"))
    assert polls >= 2
