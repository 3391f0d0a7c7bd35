"""`newswatch run` refuses bad configuration (exit 2, file/line/key named) and an
unreachable database (exit 3), as a user sees it from the shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOOD_FEEDS = "feeds:\n  - url: https://example.org/rss.xml\n"
GOOD_WATCHLIST = """\
entities:
  - id: aliyev
    name: Ilham Aliyev
subscriptions:
  - id: desk
    notify: ["console://"]
    entities: [aliyev]
"""


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent)}
    return subprocess.run(
        [sys.executable, "-m", "service", *args, "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )


def _config(tmp_path: Path, *, feeds: str = GOOD_FEEDS, watchlist: str = GOOD_WATCHLIST,
            settings: str | None = None) -> Path:
    directory = tmp_path / "config"
    (directory / "watchlists").mkdir(parents=True)
    (directory / "feeds.yaml").write_text(feeds)
    (directory / "watchlists" / "desk.yaml").write_text(watchlist)
    db = f"database_url: sqlite:///{tmp_path / 'x.db'}\n"
    (directory / "newswatch.yaml").write_text(settings if settings is not None else db)
    return directory


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"settings": "fetch:\n  timeout_seconds: 5\n  colour: blue\n"},
         "newswatch.yaml:3: fetch.colour: unknown key"),
        ({"watchlist": GOOD_WATCHLIST.replace('"console://"', '"${DESK_SLACK}"')},
         "desk.yaml:6: subscriptions[0].notify[0]: environment variable DESK_SLACK is not set"),
        ({"feeds": "feeds:\n  - url: https://example.org/a\n  - url: file:///etc/passwd\n"},
         "feeds.yaml:3: feeds[1].url: feed URL must be http(s)"),
        ({"feeds": "feeds:\n  - url: !!python/object/apply:os.system ['echo pwned']\n"},
         "feeds.yaml:2"),
    ],
    ids=["unknown-key", "missing-variable", "file-url", "python-tag"],
)
def test_bad_configuration_exits_2_naming_file_line_key(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    result = _run(_config(tmp_path, **files), "run", "--once")
    assert result.returncode == 2, result.stderr
    assert "invalid configuration" in result.stderr
    assert expected in " ".join(result.stderr.split()), result.stderr
    assert "pwned" not in result.stdout


def test_python_tag_is_refused_as_unsafe(tmp_path: Path) -> None:
    feeds = "feeds:\n  - url: !!python/object/apply:os.system ['echo pwned']\n"
    result = _run(_config(tmp_path, feeds=feeds), "check-config")
    assert result.returncode == 2
    assert "python/object/apply" in result.stderr


def test_unreachable_database_exits_3(tmp_path: Path) -> None:
    settings = "database_url: postgresql+psycopg://nobody@127.0.0.1:1/none\n"
    result = _run(_config(tmp_path, settings=settings), "run", "--once")
    assert result.returncode == 3, result.stderr
    assert "database unreachable" in result.stderr


def test_unknown_notify_scheme_is_a_configuration_error(tmp_path: Path) -> None:
    watchlist = GOOD_WATCHLIST.replace('"console://"', '"nosuchscheme://x"')
    result = _run(_config(tmp_path, watchlist=watchlist), "run", "--once")
    assert result.returncode == 2, result.stderr
    assert ("desk.yaml:6: subscriptions[0].notify[0]: not a notification URL apprise "
            "understands (scheme 'nosuchscheme')") in result.stderr


def test_a_bad_secret_notify_url_is_never_printed(tmp_path: Path) -> None:
    watchlist = GOOD_WATCHLIST.replace('"console://"', '"${DESK_HOOK}"')
    config = _config(tmp_path, watchlist=watchlist)
    env = {"PATH": "/usr/bin:/bin", "DESK_HOOK": "slack://SUPERSECRET/token"}
    result = subprocess.run(
        [sys.executable, "-m", "service", "run", "--once", "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 2
    assert "subscriptions[0].notify[0]" in result.stderr
    assert "SUPERSECRET" not in result.stderr + result.stdout
