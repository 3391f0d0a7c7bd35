"""Storage edge: SQLAlchemy on SQLite (embedded) or PostgreSQL (production).

The names below load on first use (PEP 562): a command that only needs the
engine (``newswatch healthcheck``, run by the container's health check every
30 seconds) does not pay for importing every store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.storage.alerts import AlertStore
    from service.storage.articles import ArticleStore, ProcessedOutcome, entry_guid
    from service.storage.database import Database
    from service.storage.feeds import FeedStore
    from service.storage.records import AlertSummary, AlertView, ArticleRecord, FeedState

_HOME = {
    "AlertStore": "alerts", "ArticleStore": "articles", "ProcessedOutcome": "articles",
    "entry_guid": "articles", "Database": "database", "FeedStore": "feeds",
    "AlertSummary": "records", "AlertView": "records", "ArticleRecord": "records",
    "FeedState": "records",
}

__all__ = [
    "AlertStore", "AlertSummary", "AlertView", "ArticleRecord", "ArticleStore", "Database",
    "FeedState", "FeedStore", "ProcessedOutcome", "entry_guid",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
