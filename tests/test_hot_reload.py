"""A running `newswatch run` takes configuration edits without a restart."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from service.storage import Database
from service.storage.ops_messages import OpsMessageRow
from tests.feedserver import FeedServer
from tests.scenario import WATCHLIST, AlertInbox, _rss_item, now_utc, scenario_env
from tests.test_ops_endpoints import RunningService
from tests.waiting import wait_until

ENTITY_ONLY = """
entities:
  - {id: clerc, name: Théo Clerc}
subscriptions:
  - {id: clerc-watch, notify: ["${ALERTS_URL}"], entities: [clerc]}
"""


def _refusals_sent(path: Path) -> int:
    database = Database.open(f"sqlite:///{path}", migrate=False)
    try:
        with database.session() as session:
            rows = session.scalars(select(OpsMessageRow).where(
                OpsMessageRow.subject == "[newswatch ops] configuration change refused")).all()
            return sum(row.sent_at is not None for row in rows)
    finally:
        database.close()


def _feed(guid: str, title: str, body: str) -> bytes:
    item = _rss_item(guid, f"https://x.example/{guid}", title, body, now_utc())
    return f'<rss version="2.0"><channel><title>{guid}</title>{item}</channel></rss>'.encode()


def test_valid_edit_applies_and_invalid_edit_keeps_the_last_good(tmp_path: Path) -> None:
    with FeedServer() as server:
        inbox = AlertInbox(server)
        ops = AlertInbox(server, "/ops")
        server.reply("/one.xml", _feed("one", "Macron speaks", "Macron spoke in Paris."))
        server.reply("/two.xml", _feed("two", "Théo Clerc freed", "Théo Clerc flew home."))
        config = tmp_path / "config"
        (config / "watchlists").mkdir(parents=True)
        (config / "watchlists" / "w.yaml").write_text(WATCHLIST)
        feeds = config / "feeds.yaml"
        feeds.write_text(json.dumps({"feeds": [{"url": server.url("/one.xml")}]}))
        (config / "newswatch.yaml").write_text(json.dumps({
            "database_url": f"sqlite:///{tmp_path / 'nw.db'}", "web": {"port": 0},
            "fetch": {"allow_private_addresses": True}, "ops": {"notify": [ops.apprise_url]}}))
        service = RunningService(config, scenario_env(inbox, config))
        try:
            inbox.wait_for(1, timeout=60)
            # an invalid edit: refused, reported to ops, nothing changes
            (config / "watchlists" / "bad.yaml").write_text("entities: [{id: x, colour: red}]\n")
            refused = service.wait_for("configuration change refused; the last good one "
                                       "stays in force")
            assert "bad.yaml:1: entities[0].colour: unknown key" in str(refused["problems"])
            assert "colour" in str(ops.wait_for(1, timeout=60)[0]["message"])
            # kept like every ops notice (resent after a kill), and marked once sent
            wait_until(lambda: _refusals_sent(tmp_path / "nw.db") == 1, "the notice marked sent")
            # logged once (the watcher and the service each logged it until session 6)
            assert service.count("configuration change refused; the last good one "
                                 "stays in force") == 1
            (config / "watchlists" / "bad.yaml").unlink()
            # a valid edit: a new watchlist and a new feed, picked up live
            (config / "watchlists" / "clerc.yaml").write_text(ENTITY_ONLY)
            feeds.write_text(json.dumps({"feeds": [{"url": server.url("/one.xml")},
                                                   {"url": server.url("/two.xml")}]}))
            alerts = inbox.wait_for(2, timeout=60)
        finally:
            assert service.stop() == 0
    titles = [str(a["title"]) for a in alerts]
    assert titles == ["[newswatch] macron-watch: Macron speaks",
                      "[newswatch] clerc-watch: Théo Clerc freed"]
