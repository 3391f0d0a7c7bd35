"""`newswatch stories --since 1d`: recent stories, each with the outlets that carried it.

A story is the first article and every copy that joined it (same URL, GUID
or text, or a near copy in another outlet); the table shows its size, its
outlets in the order they ran it, and when it was first and last seen. Feed
text is printed as plain text, never as console markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from service.cli_support import cutoff, read_database

if TYPE_CHECKING:
    from service.storage.stories import StorySummary


def stories(
    config_dir: Annotated[str | None, typer.Option("--config", "-c", help="Configuration "
                          "directory [default: $NEWSWATCH_CONFIG or ./config]")] = None,
    since: Annotated[str, typer.Option(help="Stories updated this recently, e.g. 1d, 12h")] = "1d",
    min_outlets: Annotated[int, typer.Option(help="Only stories carried by this many")] = 1,
    limit: Annotated[int, typer.Option(help="At most this many stories")] = 200,
) -> None:
    """List recent stories with their outlets (newest first)."""
    from service.cli import _load
    from service.runner import utcnow
    from service.storage.stories import StoryIndexStore

    config = _load(config_dir)
    since_time = cutoff(since, utcnow())
    rows = read_database(
        config, lambda database: StoryIndexStore(database).recent(since_time, limit=limit)
    )
    rows = [r for r in rows if len(r.outlets) >= min_outlets]
    Console(highlight=False).print(stories_table(rows, f"Stories since {since}"))


def stories_table(rows: list[StorySummary], title: str) -> Table:
    table = Table(title=title)
    for column in ("story", "articles", "first seen", "last seen", "title", "outlets"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id), str(row.article_count), row.created_at.strftime("%Y-%m-%d %H:%M"),
            row.updated_at.strftime("%Y-%m-%d %H:%M"), Text(row.title),
            Text(", ".join(row.outlets)),
        )
    return table
