"""The end-to-end scenario: feeds served locally, a watchlist, expected alerts.

Shared by the embedded and the distributed end-to-end tests so both modes
are held to the same outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

from tests.conftest import ROOT, SHARED
from tests.feedserver import FeedServer

SEED = (SHARED / "seed" / "azernews-pardon.txt").read_text(encoding="utf-8")
SEED_TITLE, SEED_BODY = SEED.split("\n", 1)
VISIT_TITLE = "Macron will visit Baku"
RU_TITLE = "Алиев помиловал француза"
AZ_TITLE = "Əliyev Fransa haqqında danışdı"
FOOTBALL_TITLE = "Azerbaijan and France meet in a football qualifier"

EXPECTED_ALERTS = {
    ("desk", SEED_TITLE), ("desk", VISIT_TITLE), ("desk", RU_TITLE), ("desk", AZ_TITLE),
    ("pardon-watch", SEED_TITLE), ("pardon-watch", RU_TITLE),
    ("macron-watch", SEED_TITLE), ("macron-watch", VISIT_TITLE),
    ("macron-watch", FOOTBALL_TITLE),
}

WATCHLIST = """
entities:
  - id: ilham-aliyev
    name: Ilham Aliyev
    aliases: ["Aliyev", "İlham Əliyev", "Əliyev*", "Алиев*"]
  - id: emmanuel-macron
    name: Emmanuel Macron
    aliases: ["Macron", "Макрон*"]
  - id: theo-clerc
    name: Théo Clerc
    aliases: ["Teo Klerk*", "Тео Клерк*"]
events:
  - id: pardon
    triggers: ["pardon*", "clemency", "amnesty", "grâce*", "gracié*", "əfv*", "помилова*"]
topics:
  - id: azerbaijan-france
    name: Azerbaijan–France relations
    query: >
      (Azerbaijan* OR Baku OR Aliyev OR Azərbaycan* OR Bakou OR Азербайджан*)
      AND (France OR French OR Paris OR Macron OR Fransa* OR français* OR Франц*)
      AND NOT (football OR "Grand Prix")
subscriptions:
  - id: desk
    notify: ["${ALERTS_URL}"]
    topics: [azerbaijan-france]
  - id: pardon-watch
    notify: ["${ALERTS_URL}"]
    events: [pardon]
    entities: [ilham-aliyev, theo-clerc]
  - id: macron-watch
    notify: ["${ALERTS_URL}"]
    entities: [emmanuel-macron]
"""


def _rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _rss_item(guid: str, link: str, title: str, text: str, when: datetime) -> str:
    return (
        f'<item><guid isPermaLink="false">{escape(guid)}</guid><link>{escape(link)}</link>'
        f"<title>{escape(title)}</title><description>{escape(text)}</description>"
        f"<pubDate>{_rfc822(when)}</pubDate></item>"
    )


def rss_feed(now: datetime) -> bytes:
    items = [
        _rss_item("azw-1", "https://news.example.org/pardon?utm_source=rss&utm_medium=feed",
                  SEED_TITLE, SEED_BODY, now),
        _rss_item("azw-2", "https://azer.example/football", FOOTBALL_TITLE,
                  "Baku hosted the French team; President Macron watched the football match.",
                  now),
        _rss_item("azw-3", "https://azer.example/weather", "Weather in Baku",
                  "Sunny and warm all week.", now),
        _rss_item("tag:wire.example,2026:visit-1", "https://azer.example/macron-visit",
                  VISIT_TITLE, "The French president is expected in Baku next month.", now),
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Azer Wire</title><link>https://azer.example/</link>"
        + "".join(items) + "</channel></rss>"
    ).encode()


def atom_feed(now: datetime) -> bytes:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def entry(id_: str, link: str, title: str, text: str) -> str:
        return (
            f"<entry><id>{escape(id_)}</id><link href=\"{escape(link)}\"/>"
            f"<title>{escape(title)}</title><updated>{stamp}</updated>"
            f"<content type=\"text\">{escape(text)}</content></entry>"
        )

    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Euro Desk</title><id>urn:euro-desk</id><updated>{stamp}</updated>"
        # a copy of the seed under the same URL: joins its story; its text alone
        # matches only the topic, so which copy is processed first changes nothing
        + entry("urn:uuid:0b1", "https://news.example.org/pardon", SEED_TITLE,
                "Read the whole story on our site.")
        + entry("tag:wire.example,2026:visit-1", "https://euro.example/visit", VISIT_TITLE,
                "French President Emmanuel Macron will travel to Baku, the Élysée said.")
        + "</feed>"
    ).encode()


def rdf_feed(now: datetime) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://ru.example/"><title>Русская лента</title>
<link>https://ru.example/</link><description>Новости</description>
<items><rdf:Seq><rdf:li rdf:resource="https://ru.example/c1"/></rdf:Seq></items></channel>
<item rdf:about="https://ru.example/c1"><title>{RU_TITLE}</title><link>https://ru.example/c1</link>
<description>Президент Азербайджана Ильхам Алиев помиловал гражданина Франции Тео Клерка.
</description><dc:date>{now.strftime("%Y-%m-%dT%H:%M:%SZ")}</dc:date></item>
</rdf:RDF>""".encode()


def broken_feed(now: datetime) -> bytes:
    """Malformed RSS (a raw '&', an unclosed tag, no closing rss) that feedparser recovers."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Az Xəbər</title><link>https://az.example/</link>
<item><title>{AZ_TITLE}</title><link>https://az.example/d1</link><guid>az-d1</guid>
<pubDate>{_rfc822(now)}</pubDate>
<description>Azərbaycan Prezidenti İlham Əliyev Fransa & Avropa ilə münasibətlər
barədə danışdı<br></description>
</item>
</channel>""".encode()


def conditional(body: bytes, etag: str, last_modified: str) -> web.StreamResponse:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("If-None-Match") == etag or (
            request.headers.get("If-Modified-Since") == last_modified
        ):
            return web.Response(status=304)
        return web.Response(body=body, headers={"ETag": etag, "Last-Modified": last_modified,
                                                "Content-Type": "application/xml"})
    return handler  # type: ignore[return-value]


class AlertInbox:
    """A local apprise ``json://`` endpoint that records every alert posted."""

    def __init__(self, server: FeedServer, path: str = "/alerts") -> None:
        self.path = path
        self._received: list[dict[str, object]] = []
        self._lock = threading.Condition()
        self.failing = False
        server.add(path, self._handle)
        self.apprise_url = f"json://127.0.0.1:{server.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.failing:
            return web.Response(status=503)
        payload = await request.json()
        with self._lock:
            self._received.append(payload)
            self._lock.notify_all()
        return web.Response(text="ok")

    def wait_for(self, count: int, timeout: float) -> list[dict[str, object]]:
        """Block until at least ``count`` alerts arrived (or the timeout passed)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._received) >= count, timeout=timeout)
            return list(self._received)

    @property
    def received(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self._received)

    def alerts(self) -> list[tuple[str, str]]:
        """(subscription id, article title) of every alert received, in order."""
        pairs = []
        for payload in self.received:
            title = str(payload["title"])
            subscription, article = title.removeprefix("[newswatch] ").split(": ", 1)
            pairs.append((subscription, article))
        return pairs


@dataclass
class Scenario:
    server: FeedServer
    inbox: AlertInbox
    config_dir: Path
    env: dict[str, str]

    def run_once(self, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service", "run", "--config", str(self.config_dir), "--once",
             "--log-format", "json"],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        )


def serve_feeds(server: FeedServer, now: datetime) -> dict[str, str]:
    """Register the scenario's feeds; return their URLs by name."""
    stamp = _rfc822(now)
    server.add("/rss.xml", conditional(rss_feed(now), '"rss-v1"', stamp))  # type: ignore[arg-type]
    server.add("/atom.xml", conditional(atom_feed(now), '"atom-v1"', stamp))  # type: ignore[arg-type]
    server.add("/rdf.xml", conditional(rdf_feed(now), '"rdf-v1"', stamp))  # type: ignore[arg-type]
    server.reply("/broken.xml", broken_feed(now), headers={"Content-Type": "application/rss+xml"})
    server.reply("/error.xml", b"oops", status=500)
    return {name: server.url(f"/{name}.xml") for name in ("rss", "atom", "rdf", "broken", "error")}


def write_config(
    directory: Path, feed_urls: dict[str, str], settings: dict[str, object]
) -> Path:
    (directory / "watchlists").mkdir(parents=True)
    feeds = {"feeds": [{"url": url} for url in feed_urls.values()]}
    (directory / "feeds.yaml").write_text(json.dumps(feeds), encoding="utf-8")
    base: dict[str, object] = {"fetch": {"allow_private_addresses": True, "timeout_seconds": 10}}
    (directory / "newswatch.yaml").write_text(json.dumps(base | settings), encoding="utf-8")
    (directory / "watchlists" / "scenario.yaml").write_text(WATCHLIST, encoding="utf-8")
    return directory


def scenario_env(inbox: AlertInbox, config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(ALERTS_URL=inbox.apprise_url, NEWSWATCH_CONFIG=str(config_dir),
               PYTHONUNBUFFERED="1")
    return env


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
