"""The status page of a running `newswatch run`, rendered by a real headless Chromium.

Chromium (Debian's, /usr/bin/chromium; .ci/run installs it) loads the page and
dumps the DOM after any script would have run: a failing feed comes first,
a story shows both outlets that carried it, and an entry titled with a
``<script>`` that would rewrite ``document.title`` appears as text; a refused
configuration change is shown with its file and line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from xml.sax.saxutils import escape

from tests.feedserver import FeedServer
from tests.scenario import AlertInbox, scenario_env
from tests.test_ops_endpoints import RunningService

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
XSS = "<script>document.title='owned'</script>"
WATCHLIST = ('entities: [{id: a, name: Aliyev}]\n'
             'subscriptions: [{id: desk, notify: ["${ALERTS_URL}"], entities: [a]}]\n')


def _rss(outlet: str, title: str) -> bytes:
    """A feed whose item title is escaped twice, as some feeds do: the text stored is
    the markup itself (``<script>...``), which the page must show as text."""
    return (
        f'<rss version="2.0"><channel><title>{escape(outlet)}</title>'
        f'<item><guid>story-1</guid><title>{escape(escape(title))}</title>'
        f'<link>https://news.example/aliyev-speaks</link>'
        f'<description>Aliyev spoke in Baku today about the talks.</description></item>'
        f'</channel></rss>'
    ).encode()


class Dom(HTMLParser):
    """The parts of the dumped DOM the assertions look at."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.reload_error = ""
        self.scripts = 0
        self.feed_rows: list[dict[str, str]] = []
        self.stories: list[dict[str, str]] = []
        self._in: str | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        if tag == "script":
            self.scripts += 1
        elif tag == "title":
            self._in = "title"
        elif attr.get("id") == "reload-error":
            self._in = "reload-error"
        elif tag == "tr" and "feed" in classes:
            self.feed_rows.append({"url": attr.get("data-url") or "", "class": " ".join(classes)})
        elif tag == "tr" and "story" in classes:
            self.stories.append({"title": "", "outlets": "", "subscriptions": ""})
        elif tag == "td" and self.stories and set(classes) & {"title", "outlets",
                                                                "subscriptions"}:
            self._cell = next(iter(set(classes) & {"title", "outlets", "subscriptions"}))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "pre"):
            self._in = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        if self._in == "reload-error":
            self.reload_error += data
        if self._cell is not None:
            self.stories[-1][self._cell] += data


def wait_for_outlets(base: str, count: int, tries: int = 300) -> None:
    """Until the API shows a story carried by ``count`` outlets (both copies processed)."""
    for _ in range(tries):
        with urllib.request.urlopen(base + "api/stories", timeout=10) as response:
            stories = json.load(response)["stories"]
        if any(len(s["outlets"]) >= count for s in stories):
            return
        threading.Event().wait(0.1)
    raise AssertionError(f"no story with {count} outlets: {stories}")


def dump_dom(url: str, profile: Path) -> str:
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=90, check=True,
    )
    return result.stdout


def test_status_page_in_chromium(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.reply("/a.xml", _rss("Outlet A", f"{XSS} Aliyev speaks"))
        server.reply("/b.xml", _rss("Outlet B", f"{XSS} Aliyev speaks again"))
        server.reply("/down.xml", b"gone", status=503)
        inbox = AlertInbox(server)
        config = tmp_path / "config"
        (config / "watchlists").mkdir(parents=True)
        (config / "watchlists" / "w.yaml").write_text(WATCHLIST)
        urls = [server.url("/a.xml"), server.url("/b.xml"), server.url("/down.xml")]
        (config / "feeds.yaml").write_text(json.dumps({"feeds": [{"url": u} for u in urls]}))
        (config / "newswatch.yaml").write_text(json.dumps({
            "database_url": f"sqlite:///{tmp_path / 'nw.db'}", "web": {"port": 0},
            "fetch": {"allow_private_addresses": True}}))
        service = RunningService(config, scenario_env(inbox, config))
        try:
            base = str(service.wait_for("ops endpoints listening")["url"])
            service.wait_for("feed failed")
            inbox.wait_for(1, timeout=60)
            wait_for_outlets(base, 2)
            (config / "watchlists" / "bad.yaml").write_text("entities:\n  - id: x\n")
            service.wait_for("configuration change refused; the last good one stays in force")
            html = dump_dom(base, tmp_path / "chromium")
        finally:
            assert service.stop() == 0
    dom = Dom()
    dom.feed(html)
    assert dom.title == "newswatch status"  # the injected script did not run
    assert dom.scripts == 0
    assert dom.feed_rows[0]["url"] == server.url("/down.xml")
    assert "failing" in dom.feed_rows[0]["class"]
    assert len(dom.feed_rows) == 3
    (story,) = dom.stories
    assert XSS in story["title"]  # shown as text
    assert story["outlets"] == "Outlet A, Outlet B" or story["outlets"] == "Outlet B, Outlet A"
    assert story["subscriptions"] == "desk"
    assert "bad.yaml:2" in dom.reload_error and "name" in dom.reload_error
