"""Storage edge: SQLAlchemy on SQLite (embedded) or PostgreSQL (production)."""

from service.storage.alerts import AlertStore
from service.storage.articles import ArticleStore, ProcessedOutcome, entry_guid
from service.storage.database import Database
from service.storage.feeds import FeedStore
from service.storage.records import AlertSummary, AlertView, ArticleRecord, FeedState

__all__ = [
    "AlertStore", "AlertSummary", "AlertView", "ArticleRecord", "ArticleStore", "Database",
    "FeedState", "FeedStore", "ProcessedOutcome", "entry_guid",
]
