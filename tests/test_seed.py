"""The article newswatch started from, through the example configuration.

DESIGN.md "The seed": with the example watchlist in config/, the AzerNews
pardon article alerts on the topic, the three entities (Aliyev, Macron,
Théo Clerc) and the pardon event with Aliyev and Théo Clerc taking part.
(Until session 6 no example subscription listed Macron, so no alert named him.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.scenario import SEED_BODY, SEED_TITLE, _rss_item, now_utc


def _seed_feed() -> bytes:
    item = _rss_item("azernews-1", "https://www.azernews.az/nation/241337.html", SEED_TITLE,
                     SEED_BODY, now_utc())
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>AzerNews</title><link>https://www.azernews.az/</link>{item}</channel></rss>"
    ).encode()


def test_seed_alerts_the_example_watchlist(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "watchlists").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "watchlists" / "caucasus.yaml", config / "watchlists")
    database = tmp_path / "seed.db"
    (config / "newswatch.yaml").write_text(json.dumps({
        "database_url": f"sqlite:///{database}", "fetch": {"allow_private_addresses": True},
    }))
    with FeedServer() as server:
        server.reply("/rss.xml", _seed_feed(), headers={"Content-Type": "application/rss+xml"})
        feeds = {"feeds": [{"url": server.url("/rss.xml"), "name": "AzerNews"}]}
        (config / "feeds.yaml").write_text(json.dumps(feeds))
        result = subprocess.run(
            [sys.executable, "-m", "service", "run", "--config", str(config), "--once"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240,
        )
    assert result.returncode == 0, result.stderr
    # the example subscriptions print to the console
    assert f"[newswatch] Caucasus desk: {SEED_TITLE}" in result.stdout
    assert f"[newswatch] Pardon watch: {SEED_TITLE}" in result.stdout
    assert "Event: Pardon (taking part: Ilham Aliyev, Théo Clerc)" in result.stdout
    # the three entities, each named with its sentence, in one alert
    people = result.stdout.split(f"[newswatch] People watch: {SEED_TITLE}")[1]
    people = people.split("[newswatch]")[0]
    for name in ("Ilham Aliyev", "Emmanuel Macron", "Théo Clerc"):
        assert f"Entity: {name}" in people

    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, ref_id, participants FROM matches")).all()
    engine.dispose()
    matched = {(kind, ref) for kind, ref, _ in rows}
    assert {("topic", "azerbaijan-france"), ("entity", "ilham-aliyev"),
            ("entity", "emmanuel-macron"), ("entity", "theo-clerc"),
            ("event", "pardon")} <= matched
    (pardon,) = [json.loads(p) if isinstance(p, str) else p
                 for kind, ref, p in rows if (kind, ref) == ("event", "pardon")]
    assert sorted(pardon) == ["ilham-aliyev", "theo-clerc"]
