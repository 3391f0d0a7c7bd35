"""The configuration contract as pydantic models (see DESIGN.md).

These models only describe and validate; loading files, locating errors and
substituting ``${VAR}`` live in ``service.config.loader``. Unknown keys are
errors everywhere (``extra="forbid"``).
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from service.config.durations import Duration
from service.stories import embedding
from service.stories.event_model import DEFAULT_EVENT_PROBABILITY, DEFAULT_EVENT_THRESHOLD

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

    @model_validator(mode="after")
    def _bounds_in_order(self) -> PollSettings:
        if self.min_interval > self.max_interval:
            raise ValueError(f"min_interval ({self.min_interval}) is longer than "
                             f"max_interval ({self.max_interval})")
        return self


class AlertSettings(_Strict):
    max_age: Duration = timedelta(days=3)
    max_attempts: int = Field(default=8, ge=1, le=100)


class OpsSettings(_Strict):
    notify: tuple[str, ...] = ()


class RetentionSettings(_Strict):
    """How long what the database holds is kept (``service.storage.retention``)."""

    # the text of processed articles; the rows stay (null: keep the text forever)
    article_text: Duration | None = timedelta(days=90)


class FullTextSettings(_Strict):
    """Thin entries: the article page is fetched when the feed text has fewer words."""

    min_words: int = Field(default=60, ge=0, le=100_000)


class WebSettings(_Strict):
    """The ops HTTP endpoints (/healthz, /readyz, /metrics) of `newswatch run`."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    # A Celery worker serves /healthz and /readyz here when set (containers, probes).
    worker_port: int | None = Field(default=None, ge=0, le=65535)
    # Bearer token for the status page and /api (issue 8); required when ``host`` is
    # not a loopback address. Keep it out of the file: ``${NEWSWATCH_WEB_TOKEN}``, or
    # set that variable and leave the key out.
    token: str | None = Field(default=None, repr=False)


class WebSubSettings(_Strict):
    """WebSub push (issue 8): feeds that advertise a hub are subscribed to."""

    # public URL of this service's /websub/callback (off when unset)
    callback_url: str | None = None
    lease: Duration = timedelta(days=7)  # hub.lease_seconds asked for
    renew_before: Duration = timedelta(hours=12)  # renew this long before the lease ends
    # a feed fed by a hub is still polled, but at most this often
    poll_interval: Duration = timedelta(hours=6)

    @field_validator("callback_url")
    @classmethod
    def _http_callback(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ValueError(f"callback URL must be http(s) with a host: {value!r}")
            return value.strip()
        return value


class DedupSettings(_Strict):
    """Near-duplicate stories: copies in other outlets join the first story."""

    near_duplicates: bool = True  # false: exact copies only (URL, GUID, text hash)
    # share of the shorter text's word shingles found in the other (or Jaccard)
    threshold: float = Field(default=0.5, gt=0, le=1)
    window: Duration = timedelta(days=7)  # only stories updated within it are joined
    # opt-in: other outlets' own articles about the same event join too (TF-IDF of
    # salient terms). Off by default: a story is copies (DESIGN.md), and at ~0.93
    # precision on SemEval 2022 a wrong merge would hold back an alert
    same_event: bool = False
    # TF-IDF cosine (text 0.8, title 0.2; less a penalty for days apart) at which two
    # articles tell the same event
    event_threshold: float = Field(default=DEFAULT_EVENT_THRESHOLD, gt=0, le=1)
    # with same_event: sentence embeddings decide instead (service.stories.embedding;
    # needs the optional extra newswatch[embeddings]), at this model probability
    event_embeddings: bool = False
    event_probability: float = Field(default=DEFAULT_EVENT_PROBABILITY, gt=0, lt=1)

    @field_validator("event_embeddings")
    @classmethod
    def _encoder_installed(cls, value: bool) -> bool:
        if value and not embedding.available():
            raise ValueError(f"needs the optional package {embedding.PACKAGE}: "
                             "pip install 'newswatch[embeddings]'")
        return value


class Settings(_Strict):
    """``newswatch.yaml``: every key optional."""

    database_url: str = "sqlite:///data/newswatch.db"
    broker_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    fetch: FetchSettings = FetchSettings()
    poll: PollSettings = PollSettings()
    alerts: AlertSettings = AlertSettings()
    ops: OpsSettings = OpsSettings()
    dedup: DedupSettings = DedupSettings()
    full_text: FullTextSettings = FullTextSettings()
    web: WebSettings = WebSettings()
    websub: WebSubSettings = WebSubSettings()
    retention: RetentionSettings = RetentionSettings()

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, value: str) -> str:
        from service.storage.engine import database_url_problem  # SQLAlchemy: imported late

        problem = database_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("broker_url")
    @classmethod
    def _redis_broker(cls, value: str | None) -> str | None:
        from service.broker import broker_url_problem

        problem = None if value is None else broker_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"feed URL must be http(s) with a host: {value!r}")
    return value.strip()


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class FeedConfig:
    """One ``feeds.yaml`` entry.

    A slotted pydantic dataclass rather than a model: validated the same way,
    but ~60 bytes instead of ~480 (a model keeps a ``__dict__`` and a
    fields-set per instance), which 100,000 feeds feel (bench_poller).
    """

    url: str
    name: str | None = None
    interval: Duration | None = None
    # auto: fetch the article page when the entry is thin (full_text.min_words)
    full_text: Literal["auto", "always", "never"] = "auto"

    _url_is_http = field_validator("url")(_check_http_url)

    def as_json(self) -> dict[str, object]:
        """The entry as JSON data (what ``config_hash`` hashes)."""
        return _FEED_JSON.dump_python(self, mode="json")  # type: ignore[no-any-return]


_FEED_JSON: TypeAdapter[FeedConfig] = TypeAdapter(FeedConfig)


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


def _time_of_day(value: object) -> object:
    """``"08:00"``; YAML 1.1 reads an unquoted ``22:00`` as 1320 (minutes), accepted too."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,2}:\d{2}\s*", value):
        hours, minutes = (int(part) for part in value.strip().split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    if isinstance(value, time):
        return value
    raise ValueError(f"not a time of day: {value!r} (use e.g. \"08:00\")")


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown timezone: {value!r} (use e.g. Europe/Paris)") from e
    return value


class DigestConfig(_Strict):
    """``digest: {every: 1h}`` or ``digest: {at: "08:00", timezone: Europe/Paris}``."""

    every: Duration | None = None
    at: TimeOfDay | None = None
    timezone: str = "UTC"

    _timezone_is_known = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _one_schedule(self) -> DigestConfig:
        if (self.every is None) == (self.at is None):
            raise ValueError("give either every (e.g. 1h) or at (e.g. \"08:00\")")
        return self


class QuietHoursConfig(_Strict):
    """``quiet_hours: {start: "22:00", end: "07:00", timezone: Europe/Paris}``."""

    start: TimeOfDay
    end: TimeOfDay
    timezone: str = "UTC"

    _timezone_is_known = field_validator("timezone")(_check_timezone)


class SubscriptionConfig(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    name: str | None = None
    notify: tuple[str, ...] = Field(min_length=1)
    topics: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    # delivery (issue 6): templates directory, instant or digest, quiet hours, rate cap
    template: str | None = None  # a directory (relative to the config) of template overrides
    mode: Literal["instant", "digest"] = "instant"
    digest: DigestConfig | None = None
    quiet_hours: QuietHoursConfig | None = None
    max_per_hour: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _digest_needs_schedule(self) -> SubscriptionConfig:
        if self.mode == "digest" and self.digest is None:
            raise ValueError("mode: digest needs a digest schedule (digest: {every: 1h})")
        return self


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
