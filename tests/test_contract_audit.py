"""Where a black-box audit against DESIGN.md found the product and the contract apart.

Each test drives the product as a user would (a configuration directory on
disk, the CLI or the loader it runs) and fails on the code before its fix.
"""

from __future__ import annotations

import json
import shutil
import smtplib
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app
from service.config import load_config
from service.notify.mail import smtp_reason
from service.reload import file_signature
from tests.conftest import ROOT
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint
from tests.scenario import SEED_BODY, SEED_TITLE, _rss_item
from tests.test_config import write as _write

FEEDS = "feeds:\n  - url: https://example.org/rss.xml\n"
TOPIC = """\
topics:
  - id: baku
    query: Baku
"""
SUBSCRIPTION = """\
subscriptions:
  - id: desk
    notify: ["console://"]
    topics: [baku]
"""


def _check_config(config: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent)}
    return subprocess.run(
        [sys.executable, "-m", "service", "check-config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )


# -- "every *.yaml under DIR/watchlists/" ---------------------------------------------


def test_watchlists_in_subfolders_and_yml_files_are_read(tmp_path: Path) -> None:
    """A watchlist filed in a subfolder (or named .yml) was skipped silently: check-config
    said "OK" with no topic, and the subscription referring to it never alerted."""
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS,
        "watchlists/regions/caucasus.yaml": TOPIC,
        "watchlists/desks.yml": SUBSCRIPTION,
    })
    result = _check_config(config)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "topics: 1" in output
    assert "subscriptions: 1" in output

    loaded = load_config(config, {})
    assert [t.id for t in loaded.watchlists.topics] == ["baku"]
    assert [s.id for s in loaded.watchlists.subscriptions] == ["desk"]


def test_a_problem_in_a_subfolder_names_its_path(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS,
        "watchlists/regions/caucasus.yaml": TOPIC.replace("query", "querry"),
        "watchlists/desks.yaml": SUBSCRIPTION,
    })
    result = _check_config(config)
    assert result.returncode == 2
    assert "watchlists/regions/caucasus.yaml:3: topics[0].querry: unknown key" in result.stderr


def test_hidden_files_and_folders_are_not_watchlists(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap with ``..data`` copies of every file, editors and
    macOS leave ``.name.yaml`` companions: read, they would define every id twice."""
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS,
        "watchlists/desk.yaml": TOPIC + SUBSCRIPTION,
        "watchlists/..data/desk.yaml": TOPIC + SUBSCRIPTION,
        "watchlists/.desk.yaml": TOPIC + SUBSCRIPTION,
    })
    loaded = load_config(config, {})
    assert [t.id for t in loaded.watchlists.topics] == ["baku"]


def test_a_worker_notices_a_change_in_a_subfolder(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS, "watchlists/regions/caucasus.yaml": TOPIC,
    })
    before = file_signature(config)
    (config / "watchlists" / "regions" / "caucasus.yaml").write_text(TOPIC + SUBSCRIPTION)
    assert file_signature(config) != before


# -- "case-, accent- and script-form-insensitive on whole words" ----------------------

WATCHLIST = """\
entities:
  - id: ilham-aliyev
    name: Ilham Aliyev
    aliases: ["Aliyev"]
  - id: theo-clerc
    name: Théo Clerc
events:
  - id: pardon
    triggers: ["pardon*"]
subscriptions:
  - id: pardon-watch
    notify: ["console://"]
    events: [pardon]
    entities: [ilham-aliyev]
"""


def _backtest(config: Path, feed: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent)}
    return subprocess.run(
        [sys.executable, "-m", "service", "backtest", str(config), "--input", str(feed)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )


def test_soft_hyphens_inside_words_do_not_hide_a_name(tmp_path: Path) -> None:
    """News sites hyphenate long words with ``&shy;``: "Ali&shy;yev par&shy;doned" read as
    "Ali yev par doned", so neither the entity nor the event was found."""
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS, "watchlists/desk.yaml": WATCHLIST,
        "newswatch.yaml": f"database_url: sqlite:///{tmp_path / 'x.db'}\n",
    })
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Shy</title>'
        "<item><title>Clemency in Baku</title><link>https://example.org/1</link>"
        "<description>Presi&amp;shy;dent Ali&amp;shy;yev par&amp;shy;doned "
        "Th\u00e9o Clerc on Tuesday.</description></item></channel></rss>",
        encoding="utf-8",
    )
    result = _backtest(config, feed)
    assert result.returncode == 0, result.stderr
    assert "subscription pardon-watch: 1 alerts" in result.stdout, result.stdout
    assert "event pardon with ilham-aliyev, theo-clerc" in result.stdout


# -- "Every error names the file, the line and the key" --------------------------------


def test_a_notify_url_apprise_knows_but_cannot_use_says_so(tmp_path: Path) -> None:
    """``slack://onlyone`` was reported as a scheme apprise does not understand, sending
    the user to look for a typo in ``slack``; an empty URL (``"${SLACK}"`` with SLACK set
    but empty) passed check-config, and ``run`` then refused it without file or line."""
    watchlist = TOPIC + SUBSCRIPTION.replace('"console://"', '"slack://onlyone", "", "nosuch://x"')
    config = _write(tmp_path / "config", {"feeds.yaml": FEEDS, "watchlists/desk.yaml": watchlist})
    result = _check_config(config)
    assert result.returncode == 2
    line = "watchlists/desk.yaml:6: subscriptions[0].notify"
    assert f"{line}[0]: a slack:// URL apprise cannot use: a part is missing" in result.stderr
    assert f"{line}[1]: empty notification URL" in result.stderr
    assert (f"{line}[2]: not a notification URL apprise understands (scheme 'nosuch')"
            in result.stderr)
    assert "onlyone" not in result.stderr


# -- delivery failures say why ----------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_a_failed_channel_says_why(tmp_path: Path, server: FeedServer) -> None:
    """Every failure read "delivery failed: <channel>" (in logs, `newswatch alerts`,
    `notify-test`): an ops person could not tell a refused login from a server down."""
    refusing = JsonEndpoint(server, path="/refuse", statuses=[500])
    port = _closed_port()
    notify = [refusing.apprise_url.replace("json://", "json://user:hunter22@"),
              f"json://127.0.0.1:{port}/x",
              f"mailto://127.0.0.1:{port}?to=desk@example.org&from=nw@example.org"]
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS,
        "newswatch.yaml": f"database_url: sqlite:///{tmp_path / 'x.db'}\n",
        "watchlists/desk.yaml": TOPIC + SUBSCRIPTION.replace(
            '["console://"]', "[" + ", ".join(f'"{url}"' for url in notify) + "]"),
    })
    result = CliRunner().invoke(app, ["notify-test", "desk", "--config", str(config)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.endswith("FAILED (HTTP 500)") for line in lines), result.output
    assert any(f":{port}/x" in line and line.endswith("FAILED (no answer: connection failed)")
               for line in lines), result.output
    assert any(line.startswith("mailto://") and line.endswith("FAILED (connection refused)")
               for line in lines), result.output
    assert "hunter22" not in result.output


def test_smtp_reasons_carry_the_server_words_and_never_the_login() -> None:
    refused_login = smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication\r\n failed")
    assert smtp_reason(refused_login) == "SMTP 535 5.7.8 Authentication failed"
    refused_all = smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user"),
                                                 "b@example.org": (553, b"relay denied")})
    assert smtp_reason(refused_all) == "recipients refused (SMTP 550, 553)"
    assert smtp_reason(smtplib.SMTPNotSupportedError(
        "SMTP AUTH extension not supported by server.")) == (
        "SMTP AUTH extension not supported by server.")
    assert smtp_reason(socket.gaierror(-2, "Name or service not known")) == "host name not found"
    assert smtp_reason(TimeoutError()) == "timed out"


def test_poll_bounds_out_of_order_are_refused(tmp_path: Path) -> None:
    """min_interval above max_interval was accepted, and the learned interval then
    obeyed neither bound."""
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS,
        "newswatch.yaml": "poll:\n  min_interval: 1h\n  max_interval: 5m\n",
    })
    result = _check_config(config)
    assert result.returncode == 2
    assert "newswatch.yaml:1: poll: min_interval (1:00:00) is longer than max_interval" in (
        result.stderr)


# -- "exits non-zero only when the configuration is invalid (message names file, line,
#    key) or the database cannot be reached" ------------------------------------------


def _desk_config(tmp_path: Path, feed_url: str, endpoint: JsonEndpoint) -> Path:
    """One feed, the Baku topic and the desk subscription alerting ``endpoint``, on SQLite."""
    return _write(tmp_path / "config", {
        "feeds.yaml": f"feeds:\n  - url: {feed_url}\n",
        "watchlists/desk.yaml": TOPIC + SUBSCRIPTION.replace("console://", endpoint.apprise_url),
        "newswatch.yaml": (f"database_url: sqlite:///{tmp_path / 'x.db'}\n"
                           "fetch:\n  allow_private_addresses: true\nweb:\n  enabled: false\n"),
    })


def _run_once(config: Path, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "service", "run", "--once", "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=environ,
    )


def test_a_database_newswatch_cannot_use_is_a_configuration_error(tmp_path: Path) -> None:
    """mysql:// and postgresql+psycopg2:// ended in a ModuleNotFoundError traceback (exit 1)."""
    config = _write(tmp_path / "config", {
        "feeds.yaml": "feeds: []\n",
        "newswatch.yaml": "log_level: info\ndatabase_url: mysql://nw:s3cret@db/newswatch\n",
    })
    result = _run_once(config)
    assert result.returncode == 2, result.stderr
    assert "newswatch.yaml:2: database_url: unsupported database 'mysql'" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr

    (config / "newswatch.yaml").write_text("database_url: postgresql+psycopg2://nw@db/nw\n")
    result = _run_once(config)
    assert result.returncode == 2, result.stderr
    assert "newswatch.yaml:1: database_url: the postgresql driver 'psycopg2' is not installed" in (
        result.stderr)

    (config / "newswatch.yaml").write_text("log_level: info\n")
    result = _run_once(config, {"NEWSWATCH_DATABASE_URL": "mysql://nw@db/nw"})
    assert result.returncode == 2, result.stderr
    assert ("NEWSWATCH_DATABASE_URL: not a valid database_url: unsupported database 'mysql'"
            in result.stderr)


def test_a_sqlite_folder_that_cannot_be_made_is_an_unreachable_database(tmp_path: Path) -> None:
    """The folder of the SQLite file could not be created: a traceback, exit 1."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be\n")
    config = _write(tmp_path / "config", {
        "feeds.yaml": "feeds: []\n",
        "newswatch.yaml": f"database_url: sqlite:///{blocker}/data/nw.db\n",
    })
    result = _run_once(config)
    assert result.returncode == 3, result.stderr
    assert f"database unreachable: sqlite:///{blocker}/data/nw.db: cannot create its folder" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_run_once_without_its_broker_says_so(tmp_path: Path) -> None:
    """With broker_url set and Redis down, run --once ended in a kombu traceback (exit 1);
    a broker_url that is not Redis was only found out then."""
    port = _closed_port()
    config = _write(tmp_path / "config", {
        "feeds.yaml": "feeds: []\n",
        "newswatch.yaml": (f"database_url: sqlite:///{tmp_path / 'x.db'}\n"
                           f"broker_url: redis://:s3cret@127.0.0.1:{port}/0\n"),
    })
    result = _run_once(config)
    assert result.returncode == 3, result.stderr
    assert f"broker error: broker unreachable: redis://:***@127.0.0.1:{port}/0" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr

    (config / "newswatch.yaml").write_text("broker_url: amqp://guest@rabbit//\n")
    result = _run_once(config)
    assert result.returncode == 2, result.stderr
    assert "newswatch.yaml:1: broker_url: not a Redis URL" in result.stderr


# -- "a topic query is a boolean query in the Lucene style": "quoted phrases" -----------


def test_a_phrase_in_typographic_quotes_is_a_phrase(tmp_path: Path) -> None:
    """A query pasted from a word processor or Slack has “curly” quotes: luqum read
    ``Baku AND NOT “Grand Prix”`` as ``(Baku AND NOT grand) AND prix``, so the topic
    only ever matched articles holding "prix", and never one about Baku alone."""
    watchlist = """\
    topics:
      - id: baku
        query: Baku AND NOT “Grand Prix”
      - id: race
        query: «Grand Prix» AND Baku
    subscriptions:
      - id: desk
        notify: ["console://"]
        topics: [baku]
      - id: racing
        notify: ["console://"]
        topics: [race]
    """
    config = _write(tmp_path / "config", {
        "feeds.yaml": FEEDS, "watchlists/desk.yaml": watchlist,
        "newswatch.yaml": f"database_url: sqlite:///{tmp_path / 'x.db'}\n",
    })
    feed = tmp_path / "feed.xml"
    items = [("1", "Summit in Baku", "Leaders met in Baku on Tuesday."),
             ("2", "Baku street race", "The Grand Prix returns to Baku in September."),
             ("3", "Baku prix", "Prize money grand total announced in Baku.")]
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
        + "".join(f"<item><title>{title}</title><link>https://example.org/{n}</link>"
                  f"<description>{text}</description></item>" for n, title, text in items)
        + "</channel></rss>", encoding="utf-8")
    result = _backtest(config, feed)
    assert result.returncode == 0, result.stderr
    desk, racing = result.stdout.split("subscription racing:")
    assert "Summit in Baku" in desk and "Baku prix" in desk
    assert "Baku street race" not in desk
    assert "Baku street race" in racing and "Baku prix" not in racing


# -- "older articles are stored and classified, not alerted" -------------------------


def test_a_matching_article_too_old_to_alert_says_why(tmp_path: Path, server: FeedServer) -> None:
    """The seed served with its own date (May 2025) matched both example subscriptions and
    the once-run reported "0 alerts queued" with no word of alerts.max_age."""
    published = datetime(2025, 5, 27, 13, 23, tzinfo=UTC)
    item = _rss_item("azernews-1", "https://www.azernews.az/nation/241337.html", SEED_TITLE,
                     SEED_BODY, published)
    server.reply("/rss.xml", (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>AzerNews</title>{item}</channel></rss>").encode())
    config = tmp_path / "config"
    (config / "watchlists").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "watchlists" / "caucasus.yaml", config / "watchlists")
    _write(config, {
        "feeds.yaml": f"feeds:\n  - url: {server.url('/rss.xml')}\n",
        "newswatch.yaml": (f"database_url: sqlite:///{tmp_path / 'x.db'}\n"
                           "fetch:\n  allow_private_addresses: true\nweb:\n  enabled: false\n"),
    })
    result = _run_once(config)
    assert result.returncode == 0, result.stderr
    assert "0 alerts queued" in result.stderr
    (line,) = [json.loads(line) for line in result.stderr.splitlines()
               if "older than alerts.max_age" in line]
    assert line["published"] == "2025-05-27T13:23:00+00:00"
    assert line["subscriptions"] == ["caucasus-desk", "pardon-watch", "people-watch"]
    assert line["max_age"] == "3 days, 0:00:00"


# -- "never secrets": a private feed's credentials ----------------------------------


def test_a_feed_url_credential_never_reaches_alerts_or_logs(
    tmp_path: Path, server: FeedServer
) -> None:
    """A private feed (user:password@, ?token=) without a name or title was named by its
    URL: the password went into the once-run's table and logs and into the alert itself,
    on Slack or in email."""
    endpoint = JsonEndpoint(server)
    server.reply("/private.xml", (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        b"<item><title>Summit in Baku</title><link>https://example.org/1</link>"
        b"<description>Leaders met in Baku.</description></item></channel></rss>"))
    host = server.url("/private.xml").removeprefix("http://")
    config = _desk_config(tmp_path, f"http://reader:Pa55word@{host}?token=T0ken&page=1",
                          endpoint)
    result = _run_once(config)
    assert result.returncode == 0, result.stderr
    (alert,) = endpoint.received
    seen = result.stdout + result.stderr + json.dumps(alert)
    assert "Pa55word" not in seen and "T0ken" not in seen
    shown = f"http://reader:***@{host}?token=***&page=1"  # as markdown escapes it:
    assert shown.replace("*", "\\*").replace("&", "\\&") in str(alert["message"])


# -- "no data lost": one GUID on every entry ---------------------------------------


def test_entries_sharing_one_guid_with_different_links_are_all_kept(
    tmp_path: Path, server: FeedServer
) -> None:
    """A CMS that writes the site's address in every <guid> made each poll store the
    first entry and drop the others for good: three stories, one alert."""
    endpoint = JsonEndpoint(server)
    items = "".join(
        f"<item><guid>https://example.org/</guid><link>https://example.org/{n}</link>"
        f"<title>{title}</title><description>{text}</description></item>"
        for n, title, text in [
            (1, "Summit in Baku", "Leaders met in Baku on Tuesday to talk about water."),
            (2, "Metro line opens in Baku", "A new metro line opened in Baku on Monday."),
            (3, "Baku hosts a film festival", "Directors from forty countries came to Baku."),
            (1, "Summit in Baku", "Leaders met in Baku on Tuesday to talk about water."),
        ])
    server.reply("/feed.xml", ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0">'
                               f"<channel><title>Site</title>{items}</channel></rss>").encode())
    config = _desk_config(tmp_path, server.url("/feed.xml"), endpoint)
    result = _run_once(config)
    assert result.returncode == 0, result.stderr
    assert "3 new entries" in result.stderr
    assert sorted(endpoint.titles()) == [
        "[newswatch] desk: Baku hosts a film festival",
        "[newswatch] desk: Metro line opens in Baku", "[newswatch] desk: Summit in Baku"]


# -- "an event is mentioned when a trigger stands in the same sentence as a watched entity" --


def test_a_subscription_to_events_without_any_entity_is_named_as_never_alerting(
    tmp_path: Path,
) -> None:
    """With no entities configured no event is ever mentioned, so a subscription to
    events waited in silence; check-config now says so (a note: the files are valid)."""
    events = """\
    events:
      - id: pardon
        triggers: ["pardon*"]
    subscriptions:
      - id: pardon-watch
        notify: ["console://"]
        events: [pardon]
    """
    lonely = _write(tmp_path / "lonely", {"feeds.yaml": FEEDS, "watchlists/w.yaml": events})
    result = _check_config(lonely)
    assert result.returncode == 0, result.stderr
    assert ("note: subscription 'pardon-watch' can never alert: it lists events (pardon)"
            in result.stderr), result.stderr
    watched = _write(tmp_path / "watched", {
        "feeds.yaml": FEEDS,
        "watchlists/w.yaml": textwrap.dedent(events)
        + "entities:\n  - id: aliyev\n    name: Ilham Aliyev\n"})
    result = _check_config(watched)
    assert result.returncode == 0, result.stderr
    assert "note:" not in result.stderr and "configuration OK" in result.stderr
