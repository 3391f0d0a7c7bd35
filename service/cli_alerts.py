"""`newswatch alerts` (what was alerted and its delivery state) and
`newswatch notify-test SUBSCRIPTION` (a sample alert through its channels).

Both show channels by apprise's redacted names only; feed text in the table
is printed as plain text, never as console markup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from service.cli_support import cutoff, read_database
from service.config.models import Config, SubscriptionConfig
from service.domain import Evidence, Match
from service.errors import ConfigError
from service.storage.records import AlertSummary, AlertView

_SAMPLE_SENTENCE = "On May 27, Aliyev pardoned French national Théo Clerc."


def alerts(
    config_dir: Annotated[str | None, typer.Option("--config", "-c", help="Configuration "
                          "directory [default: $NEWSWATCH_CONFIG or ./config]")] = None,
    since: Annotated[str, typer.Option(help="How far back, e.g. 1d, 12h")] = "1d",
    subscription: Annotated[str | None, typer.Option(help="Only this subscription")] = None,
) -> None:
    """List recent alerts (and every pending one) with their delivery state."""
    from service.cli import _load
    from service.runner import utcnow
    from service.storage.alerts import AlertStore

    config = _load(config_dir)
    since_time = cutoff(since, utcnow())
    rows = read_database(config, lambda database: AlertStore(database).recent(since_time))
    rows = [r for r in rows if subscription in (None, r.subscription_id)]
    Console(highlight=False).print(alerts_table(rows, f"Alerts since {since}"))


def alerts_table(rows: list[AlertSummary], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "subscription", "state", "tries", "created", "sent", "source",
                   "title", "error"):
        table.add_column(column)
    for a in rows:
        table.add_row(
            str(a.id), Text(a.subscription_id), _state(a), str(a.attempts), _when(a.created_at),
            _when(a.sent_at), Text(a.source), Text(a.title), Text(a.last_error or ""),
        )
    return table


def _state(summary: AlertSummary) -> Text:
    text = summary.delivery
    if summary.state == "pending" and summary.attempts and summary.next_attempt_at:
        text += f", next try {_when(summary.next_attempt_at)}"
    style = {"sent": "green", "dead": "red"}.get(summary.state, "yellow")
    return Text(text, style=style)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def notify_test(
    subscription: Annotated[str, typer.Argument(help="Subscription id")],
    config_dir: Annotated[str | None, typer.Option("--config", "-c", help="Configuration "
                          "directory [default: $NEWSWATCH_CONFIG or ./config]")] = None,
) -> None:
    """Send a sample alert through every channel of SUBSCRIPTION and report each result."""
    from service.cli import EXIT_CONFIG, _load, err
    from service.notify.recipients import build_recipients
    from service.notify.sender import deliver, message_maker

    config = _load(config_dir)
    try:
        recipient = build_recipients(config).get(subscription)
    except ConfigError as e:
        err.print("invalid configuration:", markup=False)
        for problem in e.problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from e
    if recipient is None:
        err.print(f"unknown subscription: {subscription!r}", markup=False)
        raise typer.Exit(EXIT_CONFIG)
    names = {e.id: e.name for e in config.watchlists.entities}
    make = message_maker(recipient, [sample_alert(config, recipient.subscription)], names,
                         digest=False)
    failed = 0
    for channel in recipient.channels:
        failures = deliver([channel], make, ()).failures
        failed += bool(failures)
        why = failures[0].removeprefix(channel.name) if failures else ""  # " (reason)"
        err.print(Text.assemble(f"{channel.name} ({channel.kind}): ",
                                ("FAILED", "bold red") if failures else ("sent", "green"), why))
    if failed:
        raise typer.Exit(1)


def sample_alert(config: Config, subscription: SubscriptionConfig) -> AlertView:
    """A made-up alert that matches what ``subscription`` lists (nothing is stored)."""
    evidence = Evidence("content", _SAMPLE_SENTENCE, ((11, 17), (18, 26), (43, 53)))
    names = {e.id: e.name for e in config.watchlists.entities}
    topics = {t.id: t.name or t.id for t in config.watchlists.topics}
    events = {e.id: e.name or e.id for e in config.watchlists.events}
    matches = (
        *(Match("topic", t, topics.get(t, t), (evidence,)) for t in subscription.topics),
        *(Match("entity", e, names.get(e, e), (evidence,)) for e in subscription.entities),
        *(Match("event", e, events.get(e, e), (evidence,), subscription.entities[:2])
          for e in subscription.events),
    )
    return AlertView(
        id=0, subscription_id=subscription.id, story_id=0, attempts=0, delivered=(),
        title="newswatch test alert: Aliyev pardons French national Théo Clerc",
        url="https://example.org/newswatch-test", source="newswatch notify-test",
        published_at=datetime.now(UTC).replace(microsecond=0), matches=matches,
        other_outlets=("Example Wire",),
    )
