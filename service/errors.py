"""The error tree of newswatch: one root, subclasses that say what failed.

    NewswatchError
    ├── ConfigError          a configuration file is invalid (file, line, key)
    ├── QuerySyntaxError     a topic query cannot be parsed (also a ConfigError)
    ├── StorageError         the database cannot be reached or migrated
    │   └── BrokerError      the broker (Redis) cannot be reached
    ├── FetchError           a feed could not be fetched (kind + message)
    └── NotifyError          a channel could not be built or used

Foreign exceptions are wrapped at the boundary with ``raise ... from``.
"""

from __future__ import annotations

from dataclasses import dataclass


class NewswatchError(Exception):
    """Raised for every failure newswatch reports on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in one configuration file, located as precisely as known."""

    file: str
    line: int | None
    key: str | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(NewswatchError, ValueError):
    """Raised when the configuration is invalid; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class QuerySyntaxError(NewswatchError, ValueError):
    """Raised when a topic query cannot be parsed; column is 1-based in the query."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.column = column
        super().__init__(message)


class StorageError(NewswatchError):
    """Raised when the database cannot be reached, created or migrated."""


class BrokerError(StorageError):
    """Raised when ``run --once`` in distributed mode cannot reach the broker."""


class FetchError(NewswatchError):
    """Raised when a feed cannot be fetched; ``kind`` is a stable key."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(f"{kind}: {message}")

    def __reduce__(self) -> tuple[type[FetchError], tuple[str, str]]:
        # picklable, so a parse error raised in the process pool comes back intact
        return (FetchError, (self.kind, self.message))


class NotifyError(NewswatchError):
    """Raised when a notification channel cannot be built or used."""
