"""The `newswatch` command line (typer + rich).

Exit codes: 0 success (also when some feeds fail), 2 invalid configuration,
3 database unreachable or not migratable (or, for ``run --once`` in distributed
mode, the broker unreachable).
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from service import __version__, cli_alerts, cli_backtest, cli_feeds, cli_stories
from service.config import Config, ConfigError, find_config_dir, load_config
from service.errors import BrokerError, NewswatchError, StorageError
from service.logs import LogFormat, configure_logging

if TYPE_CHECKING:  # the service's body loads only for the commands that run it
    from service.notify.sender import Waiting
    from service.runner import RunSummary, Service

app = typer.Typer(help="newswatch: news monitoring and alerting.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
err = Console(stderr=True, highlight=False, soft_wrap=True)  # never break an error line

EXIT_CONFIG = 2
EXIT_STORAGE = 3

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Configuration directory "
                 "[default: $NEWSWATCH_CONFIG or ./config]"),
]


def _load(config_dir: str | None) -> Config:
    directory = find_config_dir(config_dir, os.environ)
    try:
        return load_config(directory, os.environ)
    except ConfigError as e:
        err.print(f"[bold red]invalid configuration[/] in {directory}:")
        for problem in e.problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from e


def _open_service(config: Config, *, once: bool) -> Service:
    from service.runner import Service

    try:
        return Service(config, once=once, environ=os.environ)
    except StorageError as e:
        label = "broker error" if isinstance(e, BrokerError) else "database error"
        err.print(f"[bold red]{label}:[/] {e}", markup=True)
        raise typer.Exit(EXIT_STORAGE) from e
    except ConfigError as e:
        err.print("[bold red]invalid configuration:[/]")
        for problem in e.problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from e


@app.command()
def run(
    config_dir: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Poll every feed once, deliver, exit.")
    ] = False,
    flush_digests: Annotated[
        bool, typer.Option("--flush-digests", help="With --once: send every pending digest "
                           "now, not at its time (quiet hours still hold them).")
    ] = False,
    log_format: Annotated[str, typer.Option(help="auto, console or json")] = "auto",
) -> None:
    """Poll the feeds, classify what is new and send the alerts."""
    if flush_digests and not once:
        raise typer.BadParameter("only with --once", param_hint="--flush-digests")
    config = _load(config_dir)
    configure_logging(config.settings.log_level, _log_format(log_format))
    service = _open_service(config, once=once)
    mode = "distributed (Celery)" if config.settings.broker_url else "embedded"
    err.print(f"newswatch {__version__}: {len(config.feeds)} feeds, "
              f"{len(config.watchlists.subscriptions)} subscriptions, {mode} mode")
    _print_dead_ends(config)
    try:
        if once:
            _print_summary(asyncio.run(service.run_once(flush_digests=flush_digests)))
        else:
            asyncio.run(_run_until_signalled(service))
    except StorageError as e:
        err.print(f"[bold red]database error:[/] {e}")
        raise typer.Exit(EXIT_STORAGE) from e
    except NewswatchError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from e
    finally:
        service.close()


def _log_format(value: str) -> LogFormat:
    if value not in ("auto", "console", "json"):
        raise typer.BadParameter("use auto, console or json", param_hint="--log-format")
    return value  # type: ignore[return-value]


async def _run_until_signalled(service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await service.run_forever(stop)


def waiting_line(waiting: Waiting) -> str:
    """What a once-run leaves for later, e.g. ``waiting: 3 alerts for digests (next …)``."""
    parts = [
        f"{count} {label} ({word} {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" if when
        else f"{count} {label}"
        for count, label, word, when in (
            (waiting.digest, "for digests", "next", waiting.next_digest),
            (waiting.held, "held back (quiet hours, rate limits)", "until", waiting.held_until),
            (waiting.retrying, "to retry", "next", waiting.next_retry),
        ) if count
    ]
    if not parts:
        return ""
    hint = "; run --once --flush-digests to send the digests now" if waiting.digest else ""
    return "alerts waiting: " + ", ".join(parts) + hint


def _print_summary(summary: RunSummary) -> None:
    table = Table(title="Feeds polled", show_lines=False)
    for column in ("feed", "result", "new", "error"):
        table.add_column(column)
    for poll in sorted(summary.polls, key=lambda p: (p.status != "failed", p.name)):
        style = "red" if poll.status == "failed" else None
        error = f"{poll.error_kind}: {poll.error}" if poll.error_kind else ""
        table.add_row(poll.name, poll.status, str(poll.new_entries), error, style=style)
    err.print(table)
    failed = sum(p.status == "failed" for p in summary.polls)
    new = sum(p.new_entries for p in summary.polls)
    err.print(
        f"{len(summary.polls)} feeds polled, {failed} failed; {new} new entries; "
        f"{summary.work.alerts} alerts queued; {summary.sent.sent} sent"
        + (f" ({summary.sent.digests} digests)" if summary.sent.digests else "")
        + f", {summary.sent.failed} failed (will retry), {summary.sent.dead} dead"
        + (f"; {summary.unprocessed} entries still queued" if summary.unprocessed else "")
    )
    waiting = waiting_line(summary.waiting)
    if waiting:
        err.print(waiting, markup=False)


@app.command("check-config")
def check_config(
    directory: Annotated[str | None, typer.Argument(help="Configuration directory")] = None,
    config_dir: ConfigOption = None,
) -> None:
    """Validate a configuration directory and print what it holds."""
    from service.matching.classifier import compile_watchlists

    config = _load(directory or config_dir)
    watch = config.watchlists
    classifier = compile_watchlists(watch)  # the loader checked every term and query
    err.print(
        f"configuration OK: {config.directory}\n"
        f"  feeds: {len(config.feeds)}\n  entities: {len(watch.entities)}\n"
        f"  events: {len(watch.events)}\n  topics: {len(watch.topics)}\n"
        f"  subscriptions: {len(watch.subscriptions)}\n"
        f"  terms in the automaton: {classifier.matcher.term_count}"
    )
    _print_dead_ends(config)


def _print_dead_ends(config: Config) -> None:
    from service.config.dead_ends import dead_ends

    for note in dead_ends(config.watchlists):
        err.print(f"[yellow]note:[/] {note}")


@db_app.command("upgrade")
def db_upgrade(config_dir: ConfigOption = None) -> None:
    """Apply the database migrations (also done by `run` at start-up)."""
    from service.storage.database import Database
    from service.storage.engine import redact_database_url

    config = _load(config_dir)
    try:
        Database.open(config.settings.database_url).close()
    except StorageError as e:
        err.print(f"[bold red]database error:[/] {e}")
        raise typer.Exit(EXIT_STORAGE) from e
    err.print(f"database up to date: {redact_database_url(config.settings.database_url)}")


@db_app.command("compact")
def db_compact(
    config_dir: ConfigOption = None,
    older_than: Annotated[str | None, typer.Option(
        help="Drop the text of processed articles older than this (e.g. 30d) "
             "[default: retention.article_text]")] = None,
) -> None:
    """Drop the text of old processed articles now, keeping their rows (`run` does it hourly)."""
    from datetime import datetime

    from service.config.durations import parse_duration
    from service.storage.database import Database
    from service.storage.retention import ArticleTextRetention

    config = _load(config_dir)
    try:
        age = parse_duration(older_than) if older_than else config.settings.retention.article_text
    except ValueError as e:
        err.print(f"[bold red]--older-than:[/] {e}")
        raise typer.Exit(EXIT_CONFIG) from e
    if age is None:
        err.print("retention.article_text is null (text kept forever): give --older-than")
        raise typer.Exit(EXIT_CONFIG)
    try:
        database = Database.open(config.settings.database_url)
    except StorageError as e:
        err.print(f"[bold red]database error:[/] {e}")
        raise typer.Exit(EXIT_STORAGE) from e
    before = datetime.now(UTC) - age
    with err.status("dropping old article text…") as status:
        total = ArticleTextRetention(database).compact(before, progress=lambda done: status.update(
            f"dropping old article text… {done} articles so far"))
    database.close()
    err.print(f"text dropped from {total} articles fetched before {before:%Y-%m-%d %H:%M} UTC")


@app.command()
def healthcheck(config_dir: ConfigOption = None) -> None:
    """Exit 0 when the configuration is valid and the database (and broker) answer.

    Used by container health checks and Kubernetes probes.
    """
    from service.health import HealthChecker
    from service.storage.engine import make_engine

    config = _load(config_dir)
    engine = make_engine(config.settings.database_url)
    problems = HealthChecker(engine, config.settings.broker_url).problems()
    engine.dispose()
    for problem in problems:
        err.print(f"[red]unhealthy:[/] {problem}")
    if problems:
        raise typer.Exit(1)
    err.print("healthy")


app.command("backtest")(cli_backtest.backtest)
app.command("alerts")(cli_alerts.alerts)
app.command("notify-test")(cli_alerts.notify_test)
app.add_typer(cli_feeds.feeds_app, name="feeds")
app.command("stories")(cli_stories.stories)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"newswatch {__version__}")


def main() -> None:
    app()
