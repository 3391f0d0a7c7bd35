"""Where a black-box audit against DESIGN.md found the product and the contract apart.

Each test drives the product as a user would (a configuration directory on
disk, the CLI or the loader it runs) and fails on the code before its fix.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from service.config import load_config
from service.reload import file_signature
from tests.conftest import ROOT

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


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


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
