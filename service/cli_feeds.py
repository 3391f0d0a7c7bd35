"""`newswatch feeds ...`: import and export OPML, show feeds' states and failures, re-enable.

    feeds import FILE.opml   add the OPML's feeds to feeds.yaml (those not there yet)
    feeds export [-o FILE]   the configured feeds as OPML 2.0
    feeds status             a table: last success, last error, next poll, backoff, items
    feeds history URL        a feed's failed polls, newest first (kept: last 50, 30 days)
    feeds enable URL         poll a disabled feed again
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from service.config import ConfigError, load_config
from service.config.models import Config
from service.errors import FetchError, StorageError
from service.urls import shown_url

if TYPE_CHECKING:  # OPML and the stores load with the commands that use them
    from service.poller.opml import OpmlFeed
    from service.storage.feeds import FeedStore
    from service.storage.records import FeedFailure, FeedState

feeds_app = typer.Typer(help="Feeds: OPML import/export, status, re-enabling.",
                        no_args_is_help=True)

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Configuration directory "
                 "[default: $NEWSWATCH_CONFIG or ./config]"),
]


def _now() -> datetime:
    return datetime.now(UTC)


# --- import ------------------------------------------------------------------------------


@feeds_app.command("import")
def import_opml(
    opml_file: Annotated[Path, typer.Argument(help="OPML file to import", exists=True,
                                              dir_okay=False, readable=True)],
    config_dir: ConfigOption = None,
) -> None:
    """Add the feeds of an OPML file to feeds.yaml (feeds already there are left alone)."""
    from service.cli import EXIT_CONFIG, err
    from service.poller.opml import read_opml

    config = _load(config_dir)
    try:
        listed = read_opml(opml_file.read_bytes())
    except FetchError as e:
        err.print(f"[bold red]cannot import {opml_file}:[/] {e.message}")
        raise typer.Exit(EXIT_CONFIG) from e
    known = {feed.url for feed in config.feeds}
    new = [feed for feed in listed.feeds if feed.url not in known]
    feeds_file = Path(config.directory) / "feeds.yaml"
    if new:
        _append_feeds(feeds_file, new, config)
    for problem in listed.invalid:
        err.print(f"  skipped: {problem}", markup=False)
    err.print(f"{len(new)} feeds added to {feeds_file}; "
              f"{len(listed.feeds) - len(new)} already there; {len(listed.invalid)} skipped")


def _append_feeds(feeds_file: Path, new: list[OpmlFeed], config: Config) -> None:
    """Append to the ``feeds:`` list; the result must load, else the file is restored."""
    from service.cli import EXIT_CONFIG, err
    from service.poller.opml import yaml_entries

    original = feeds_file.read_text(encoding="utf-8") if feeds_file.exists() else ""
    feeds_file.write_text(_with_entries(original, yaml_entries(new)), encoding="utf-8")
    try:
        load_config(config.directory, os.environ)
    except ConfigError as e:
        feeds_file.write_text(original, encoding="utf-8")
        err.print(f"[bold red]import would break {feeds_file}; left unchanged:[/]")
        for problem in e.problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from e


def _with_entries(original: str, entries: str) -> str:
    """``original`` feeds.yaml with ``entries`` added at the end of its feeds list.

    Comments are kept when the list is a block list at the end of the file;
    otherwise (no file, ``feeds: []``) the list is written anew.
    """
    doc = yaml.safe_load(original) if original.strip() else None
    existing = doc.get("feeds") if isinstance(doc, dict) else None
    if existing and original.rstrip().splitlines()[-1].startswith((" ", "-")):
        return original.rstrip("\n") + "\n" + entries
    from service.poller.opml import OpmlFeed, yaml_entries

    kept = yaml_entries([OpmlFeed(str(f["url"]), f.get("name")) for f in existing or ()])
    return "feeds:\n" + kept + entries


def _load(config_dir: str | None) -> Config:
    from service.cli import _load as load

    return load(config_dir)


# --- export ------------------------------------------------------------------------------


@feeds_app.command("export")
def export_opml(
    config_dir: ConfigOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="File to write [default: stdout]")] = None,
) -> None:
    """Write the configured feeds as OPML 2.0."""
    from service.poller.opml import OpmlFeed, write_opml

    config = _load(config_dir)
    titles = _stored_titles(config)
    feeds = [OpmlFeed(f.url, f.name or titles.get(f.url)) for f in config.feeds]
    document = write_opml(feeds, "newswatch feeds", _now())
    if output is None:
        sys.stdout.buffer.write(document)
    else:
        output.write_bytes(document)


def _stored_titles(config: Config) -> dict[str, str]:
    """Feed titles seen when polling, when the database is at hand (else none)."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.storage.database import Database
    from service.storage.feeds import FeedStore

    try:
        database = Database.open(config.settings.database_url, migrate=False)
    except StorageError:
        return {}
    try:
        return {url: s.title for url, s in FeedStore(database).states().items() if s.title}
    except SQLAlchemyError:  # an older schema: export from the configuration alone
        return {}
    finally:
        database.close()


# --- status and enable ---------------------------------------------------------------------


@feeds_app.command("status")
def status(config_dir: ConfigOption = None) -> None:
    """Every feed: state, last success, last error, next poll, failures, items seen."""
    config = _load(config_dir)
    with _feed_store(config) as store:
        states = store.states()
    configured = {feed.url for feed in config.feeds}
    rows = [s for url, s in states.items() if url in configured]
    Console(highlight=False).print(status_table(rows, _now()))


def status_table(states: list[FeedState], now: datetime) -> Table:
    table = Table(title=f"Feeds ({len(states)})")
    for column in ("feed", "state", "last success", "last error", "next poll", "failures",
                   "items"):
        table.add_column(column, overflow="fold")
    for s in sorted(states, key=lambda s: (s.enabled, -s.consecutive_failures, s.url)):
        table.add_row(
            s.display_name if s.display_name == shown_url(s.url)
            else f"{s.display_name}\n{shown_url(s.target)}",
            _state_text(s), _when(s.last_success_at, now),
            f"{s.last_error_kind}: {s.last_error}" if s.last_error_kind else "",
            _when(s.next_poll_at, now) if s.enabled else "", str(s.consecutive_failures),
            str(s.items_seen),
        )
    return table


def _state_text(state: FeedState) -> Text:
    if not state.enabled:
        return Text(f"disabled: {state.disabled_reason or ''}".rstrip(": "), style="bold red")
    if state.consecutive_failures:
        return Text("backing off", style="yellow")
    return Text("ok" if state.last_success_at else "new", style="green")


def _when(when: datetime | None, now: datetime) -> str:
    if when is None:
        return ""
    seconds = (when - now).total_seconds()
    span = _span(abs(seconds))
    relative = f"in {span}" if seconds > 0 else f"{span} ago"
    return f"{when:%Y-%m-%d %H:%M} ({relative})"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@feeds_app.command("history")
def history(
    url: Annotated[str, typer.Argument(help="The feed's URL as in feeds.yaml")],
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 20,
    config_dir: ConfigOption = None,
) -> None:
    """A feed's failed polls, newest first: when, kind, HTTP status, message."""
    from service.cli import err

    config = _load(config_dir)
    url = _configured_url(config, url)
    with _feed_store(config) as store:
        state = store.state(url)
        failures = store.failures(url, limit=max(1, limit))
    if state is None:
        err.print(f"[bold red]no such feed:[/] {shown_url(url)}")
        raise typer.Exit(1)
    Console(highlight=False).print(history_table(state, failures, _now()))


def history_table(state: FeedState, failures: list[FeedFailure], now: datetime) -> Table:
    table = Table(title=f"Failures of {state.display_name} ({len(failures)} shown; "
                        f"{state.consecutive_failures} in a row now)")
    for column in ("when", "kind", "status", "message"):
        table.add_column(column, overflow="fold")
    for failure in failures:
        table.add_row(_when(failure.at, now), failure.kind,
                      "" if failure.status is None else str(failure.status), failure.message)
    return table


@feeds_app.command("enable")
def enable(
    url: Annotated[str, typer.Argument(help="The feed's URL as in feeds.yaml")],
    config_dir: ConfigOption = None,
) -> None:
    """Re-enable a disabled feed: it is polled again soon, failures reset."""
    from service.cli import err

    config = _load(config_dir)
    url = _configured_url(config, url)
    with _feed_store(config) as store:
        found = store.enable(url)
    if not found:
        err.print(f"[bold red]no such feed:[/] {url}")
        raise typer.Exit(1)
    err.print(f"enabled: {shown_url(url)}")


def _configured_url(config: Config, url: str) -> str:
    """The feed ``url`` names: itself, or the one configured URL it is the shown form
    of (ops messages and the status table write credentials as ***)."""
    shown_as = [f.url for f in config.feeds if url != f.url and shown_url(f.url) == url]
    return shown_as[0] if len(shown_as) == 1 else url


@contextmanager
def _feed_store(config: Config) -> Iterator[FeedStore]:
    """A FeedStore on the configured database; a database error exits 3."""
    from service.cli import EXIT_STORAGE, err
    from service.storage.database import Database
    from service.storage.feeds import FeedStore

    try:
        database = Database.open(config.settings.database_url)
    except StorageError as e:
        err.print(f"[bold red]database error:[/] {e}")
        raise typer.Exit(EXIT_STORAGE) from e
    try:
        yield FeedStore(database)
    finally:
        database.close()
