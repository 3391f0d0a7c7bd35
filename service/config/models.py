"""The configuration contract as pydantic models (see DESIGN.md).

These models only describe and validate; loading files, locating errors and
substituting ``${VAR}`` live in ``service.config.loader``. Unknown keys are
errors everywhere (``extra="forbid"``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.config.durations import Duration

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Strict):
    allow_private_addresses: bool = False
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    max_bytes: int = Field(default=15_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    concurrency: int = Field(default=100, ge=1, le=10_000)
    per_host_concurrency: int = Field(default=2, ge=1, le=100)


class PollSettings(_Strict):
    default_interval: Duration = timedelta(minutes=15)
    adaptive: bool = True  # feeds without `interval`: learn it from the publishing rate
    min_interval: Duration = timedelta(minutes=5)  # bounds of the learned interval
    max_interval: Duration = timedelta(hours=24)
    disable_after: int = Field(default=10, ge=1, le=1000)  # consecutive failures


class AlertSettings(_Strict):
    max_age: Duration = timedelta(days=3)
    max_attempts: int = Field(default=8, ge=1, le=100)


class OpsSettings(_Strict):
    notify: tuple[str, ...] = ()


class FullTextSettings(_Strict):
    """Thin entries: the article page is fetched when the feed text has fewer words."""

    min_words: int = Field(default=60, ge=0, le=100_000)


class WebSettings(_Strict):
    """The ops HTTP endpoints (/healthz, /readyz, /metrics) of `newswatch run`."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port


class Settings(_Strict):
    """``newswatch.yaml``: every key optional."""

    database_url: str = "sqlite:///data/newswatch.db"
    broker_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    fetch: FetchSettings = FetchSettings()
    poll: PollSettings = PollSettings()
    alerts: AlertSettings = AlertSettings()
    ops: OpsSettings = OpsSettings()
    full_text: FullTextSettings = FullTextSettings()
    web: WebSettings = WebSettings()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"feed URL must be http(s) with a host: {value!r}")
    return value.strip()


class FeedConfig(_Strict):
    url: str
    name: str | None = None
    interval: Duration | None = None
    # auto: fetch the article page when the entry is thin (full_text.min_words)
    full_text: Literal["auto", "always", "never"] = "auto"

    _url_is_http = field_validator("url")(_check_http_url)


class FeedsFile(_Strict):
    """``feeds.yaml``."""

    feeds: tuple[FeedConfig, ...] = ()


class EntityConfig(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class EventConfig(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    name: str | None = None
    triggers: tuple[str, ...] = Field(min_length=1)
    window: int | None = Field(default=None, ge=1, le=200)


class TopicConfig(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    name: str | None = None
    query: str = Field(min_length=1)


class SubscriptionConfig(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    name: str | None = None
    notify: tuple[str, ...] = Field(min_length=1)
    topics: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    events: tuple[str, ...] = ()


class WatchlistFile(_Strict):
    """One ``watchlists/*.yaml`` file."""

    entities: tuple[EntityConfig, ...] = ()
    events: tuple[EventConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()


class Watchlists(_Strict):
    """Every watchlist file merged: ids are unique across files."""

    entities: tuple[EntityConfig, ...] = ()
    events: tuple[EventConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()


class Config(_Strict):
    """A whole configuration directory, validated."""

    directory: str
    settings: Settings
    feeds: tuple[FeedConfig, ...]
    watchlists: Watchlists
    version: str  # content hash of the files, to tell reloads apart
