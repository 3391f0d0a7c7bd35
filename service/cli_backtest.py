"""`newswatch backtest DIR`: what the watchlists of DIR would have alerted; sends nothing.

Reads stored articles (``--since``, default 7d; the database is opened
without migrating and only read) or a file (``--input``: JSON lines, a JSON
array of objects, or an RSS/Atom/JSON feed), and prints per subscription
each article that would have alerted (one per story), with the sentences
that matched and the matched words marked ``**like this**``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.config.durations import parse_duration
from service.config.models import Config
from service.domain import Match
from service.errors import StorageError

if TYPE_CHECKING:  # loaded by the command itself: other commands need not import them
    from service.backtest import BacktestArticle, BacktestReport, WouldAlert


def backtest(
    directory: Annotated[str | None, typer.Argument(help="Configuration directory")] = None,
    since: Annotated[str, typer.Option(help="Stored articles fetched this recently")] = "7d",
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="JSON lines, JSON array or feed file instead of the database"),
    ] = None,
    subscription: Annotated[
        list[str] | None, typer.Option(help="Only this subscription (repeatable)")
    ] = None,
) -> None:
    """Run the watchlists over past articles and print what would have alerted."""
    from service.backtest import BacktestInputError, run_backtest
    from service.cli import EXIT_CONFIG, EXIT_STORAGE, _load, err
    from service.matching.classifier import compile_watchlists

    config = _load(directory)
    subscriptions = [
        s for s in config.watchlists.subscriptions if not subscription or s.id in subscription
    ]
    unknown = set(subscription or ()) - {s.id for s in subscriptions}
    if unknown:
        raise typer.BadParameter(f"unknown subscription: {', '.join(sorted(unknown))}")
    try:
        articles, origin = _articles(config, since, input_file)
    except BacktestInputError as error:
        err.print(f"cannot read input: {error}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from error
    except StorageError as error:
        err.print(f"database error: {error}", markup=False)
        raise typer.Exit(EXIT_STORAGE) from error
    report = run_backtest(compile_watchlists(config.watchlists), subscriptions, articles)
    for line in format_report(report, origin):
        typer.echo(line)


def _articles(
    config: Config, since: str, input_file: Path | None
) -> tuple[list[BacktestArticle], str]:
    from service.backtest import read_input_file, read_stored

    if input_file is not None:
        return read_input_file(input_file), str(input_file)
    from service.runner import utcnow
    from service.storage.database import Database
    from service.storage.engine import redact_database_url

    try:
        window: timedelta = parse_duration(since)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from error
    url = config.settings.database_url
    _require_sqlite_file(url)
    database = Database.open(url, migrate=False)
    try:
        articles = read_stored(database, utcnow() - window)
    finally:
        database.close()
    return articles, f"{redact_database_url(url)} (fetched in the last {since})"


def _require_sqlite_file(url: str) -> None:
    """Opening a missing SQLite file would create it: refuse instead (we change nothing)."""
    from sqlalchemy.engine import make_url

    from service.storage.engine import normalise_database_url

    parsed = make_url(normalise_database_url(url))
    name = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or name in ("", ":memory:"):
        return
    if not name.startswith("file:") and not Path(name).expanduser().is_file():
        raise StorageError(f"no database file: {name}")


def format_report(report: BacktestReport, origin: str) -> list[str]:
    """The report as text lines: a header, then per subscription its alerts."""
    lines = [f"backtest over {report.articles} articles from {origin}; nothing was sent"]
    for result in report.subscriptions:
        lines.append("")
        lines.append(f"subscription {result.subscription_id}: {len(result.alerts)} alerts")
        for alert in result.alerts:
            lines.extend(_alert_lines(alert))
    return lines


def _alert_lines(alert: WouldAlert) -> list[str]:
    article = alert.article
    when = article.published.strftime("%Y-%m-%d %H:%M") if article.published else "no date"
    copies = f" (+{alert.copies} copies)" if alert.copies else ""
    lines = [f"  {when}  {article.source}: {_one_line(article.title)}{copies}"]
    if article.url:
        lines.append(f"    {article.url}")
    for match in alert.matches:
        lines.extend(_match_lines(match))
    return lines


def _match_lines(match: Match) -> list[str]:
    who = f" with {', '.join(match.participants)}" if match.participants else ""
    lines = [f"    {match.kind} {match.name}{who}"]
    lines.extend(f"      [{e.field}] {_one_line(e.marked())}" for e in match.evidence)
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())
