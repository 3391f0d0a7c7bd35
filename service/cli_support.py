"""What the listing commands share: a --since window and a short database read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer

from service.config import Config
from service.config.durations import parse_duration
from service.errors import StorageError

if TYPE_CHECKING:
    from service.storage.database import Database

T = TypeVar("T")


def cutoff(since: str, now: datetime) -> datetime:
    """``now`` minus the ``--since`` duration (a usage error when it is not one)."""
    try:
        return now - parse_duration(since)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--since") from e


def read_database(config: Config, read: Callable[[Database], T]) -> T:
    """Open the configured database, read, close; exit 3 when it cannot be reached."""
    from service.cli import EXIT_STORAGE, err
    from service.storage.database import Database

    try:
        database = Database.open(config.settings.database_url)
        try:
            return read(database)
        finally:
            database.close()
    except StorageError as e:
        err.print(f"database error: {e}", markup=False)
        raise typer.Exit(EXIT_STORAGE) from e
