"""Apprise channels: one ``Apprise`` object per notify URL, built once.

Each URL gets its own object so that a partial failure (Slack down, email
up) retries only the channel that failed. A channel knows its kind (which
template and escaping its messages need), apprise's size limits for it, and
maps apprise's result to our own ``Delivery``. Retries inside apprise are
forced to 0: the outbox sender retries with backoff, so retries never double.
Names shown in logs and status are apprise's privacy-redacted URLs, never
the secrets themselves. Some URLs get our subclass of apprise's plugin:
Slack incoming webhooks and generic webhooks, so a refusal's Retry-After
is seen, and Discord, so it does not retry by itself (``webhooks``); SMTP
email, so the text part is ours (``mail``).

apprise paces requests to one service by sleeping in ``throttle()``
(``request_rate_per_sec``: 5.5 s for email, 1.2 s for Slack). In the outbox
sender that sleep would hold up every other channel's alerts, so a channel
built with ``sender_paces`` records the interval as ``pace`` and its plugin
instance (never apprise's class) is set not to sleep: the sender pauses the
channel instead and sends other channels' alerts meanwhile (``sender``).

A message to one of our subclasses goes straight to the plugin's own
``notify()`` (apprise's per-plugin path: format conversion, size cap,
overflow, ``send``), not through an ``Apprise`` object, whose per-call
bookkeeping, tag matching and thread-pool hand-off (for a single plugin)
cost more CPU than the HTTP exchange itself; our subclasses bound every
exchange with socket timeouts, which is what apprise's 60 s thread deadline
guards against. Other plugins keep the ``Apprise`` object.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import apprise
import structlog
from apprise import NotifyFormat
from apprise.manager_plugins import NotificationManager
from apprise.plugins.email import NotifyEmail
from apprise.plugins.slack import NotifySlack

import service.notify.console  # noqa: F401  (registers console://)
from service.errors import NotifyError
from service.notify.mail import Accepted, MultipartEmail, multipart
from service.notify.webhooks import OURS, observed
from service.rendering import ChannelKind, Limits, Message
from service.scheduling import retry_after_at

# apprise names notify URLs, tokens included, in its own log messages (a URL
# that fails to load is logged whole, webhook tokens at debug). newswatch
# reports outcomes itself with redacted names, so apprise's logger stays off.
logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)
_log = structlog.get_logger("newswatch.notify")
_DIRECT = (*OURS, MultipartEmail)  # our plugin classes: sent through their own notify()

_BODY_FORMATS: dict[ChannelKind, NotifyFormat] = {
    "slack": NotifyFormat.MARKDOWN, "email_html": NotifyFormat.HTML,
    "email_text": NotifyFormat.TEXT, "markdown": NotifyFormat.MARKDOWN,
    "text": NotifyFormat.TEXT,
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one send to one channel came to."""

    ok: bool
    retry_after: timedelta | None = None  # the service asked us to wait this long
    accepted: frozenset[Accepted] = frozenset()  # email: the recipients that took it
    reason: str | None = None  # why it failed, when the channel tells (no secret in it)


@dataclass(frozen=True, slots=True)
class Channel:
    index: int  # position in the subscription's notify list
    name: str  # redacted URL, safe to log
    kind: ChannelKind
    limits: Limits
    apprise: apprise.Apprise
    plugin: Any
    key: str = ""  # the target's identity (apprise's url_id: a hash, no secret in it)
    pace: timedelta = timedelta(0)  # the sender waits this long between sends through it

    def send(self, message: Message, now: datetime | None = None,
             skip: frozenset[Accepted] = frozenset()) -> Delivery:
        """Send ``message`` (email: not to the recipients in ``skip``); on failure, how
        long the service asked us to wait (as of ``now``)."""
        accepted: frozenset[Accepted] = frozenset()
        reason: str | None = None
        if message.text is not None and isinstance(self.plugin, MultipartEmail):
            mail = self.plugin.send_alternative(message.title, message.text, message.body, skip)
            result, accepted, reason = mail.ok, mail.accepted, mail.reason
        elif isinstance(self.plugin, _DIRECT):
            result = self._notify_plugin(message)
        else:
            result = bool(self.apprise.notify(
                body=message.body, title=message.title, body_format=_BODY_FORMATS[message.kind]
            ))
        if result:
            return Delivery(ok=True, accepted=accepted)
        now = now or datetime.now(UTC)
        waits = [w for w in (retry_after(getattr(self.plugin, "last_retry_after", None), now),
                             rate_limit_wait(self.plugin, now)) if w is not None]
        return Delivery(ok=False, retry_after=max(waits, default=None), accepted=accepted,
                        reason=reason or _answer(self.plugin))

    def close_idle(self) -> None:
        """Close a connection kept open (SMTP) that has waited too long for a message."""
        if isinstance(self.plugin, MultipartEmail):
            self.plugin.close_idle()

    def close(self) -> None:
        """Close a connection kept open (SMTP), if any."""
        if isinstance(self.plugin, MultipartEmail):
            self.plugin.close()

    def _notify_plugin(self, message: Message) -> bool:
        """Through the plugin's own ``notify()``; like ``Apprise.notify``, never raises."""
        try:
            return bool(self.plugin.notify(body=message.body, title=message.title,
                                           body_format=_BODY_FORMATS[message.kind]))
        except Exception as e:  # a plugin bug must fail this send, not the sender
            _log.error("notification plugin raised", channel=self.name,
                       error=f"{type(e).__name__}: {e}")
            return False

    def converted_length(self, message: Message) -> int:
        """The body's length once apprise has converted it for the service."""
        fmt = _BODY_FORMATS[message.kind]
        if isinstance(self.plugin, NotifySlack) and fmt == NotifyFormat.MARKDOWN:
            return len(self.plugin.dialect_convert(message.body, fmt))
        return len(message.body)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """The wait a ``Retry-After`` header (seconds or an HTTP date) asks for, or None."""
    when = retry_after_at(value, now)
    return when - now if when is not None and when > now else None


def rate_limit_wait(plugin: Any, now: datetime) -> timedelta | None:
    """How long the service asked us to wait, where the apprise plugin keeps it.

    Plugins that read rate-limit headers (Discord, Revolt, ...) remember the
    reset time. apprise does not surface a generic Retry-After: our webhook
    plugins (``service.notify.webhooks``) record it themselves.
    """
    remaining = getattr(plugin, "ratelimit_remaining", None)
    reset = getattr(plugin, "ratelimit_reset", None)
    if not isinstance(reset, datetime) or remaining is None or float(remaining) > 0:
        return None
    reset = reset.replace(tzinfo=UTC) if reset.tzinfo is None else reset
    wait = reset - now
    return wait if wait > timedelta(0) else None


def channel_kind(plugin: Any) -> ChannelKind:
    """Which template a plugin's messages use, from what it natively speaks."""
    if isinstance(plugin, NotifySlack):
        return "slack"
    if isinstance(plugin, NotifyEmail):
        html = plugin.resolve_format(NotifyFormat.HTML) == NotifyFormat.HTML
        return "email_html" if html else "email_text"
    native = plugin.resolve_format(NotifyFormat.MARKDOWN)
    return "markdown" if native in (NotifyFormat.MARKDOWN, NotifyFormat.HTML) else "text"


def _answer(plugin: Any) -> str | None:
    """What our webhook plugins recorded of a refused send: the status, or why none came."""
    status = getattr(plugin, "last_status", None)
    if isinstance(status, int):  # a 2xx here: Slack's webhook answers "ok" on success
        return f"HTTP {status}" if not 200 <= status < 300 else f"HTTP {status}, not 'ok'"
    error = getattr(plugin, "last_error", None)
    return error if isinstance(error, str) else None


def redact(url: str) -> str:
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        return url.split(":", 1)[0] + "://…"
    return _short(_private_url(plugin))


def _private_url(plugin: Any) -> str:
    return str(plugin.url(privacy=True))


def _short(redacted: str) -> str:
    """The redacted URL without apprise's default query options."""
    return redacted.split("?", 1)[0]


def notify_url_problem(url: str) -> str | None:
    """Why apprise cannot use ``url`` (naming only its scheme), or None."""
    try:
        build_channel(0, url)
    except NotifyError as e:
        return str(e)
    return None


def build_channel(index: int, url: str, *, sender_paces: bool = False) -> Channel:
    """``url``'s channel; ``sender_paces``: the caller paces it (``Channel.pace``),
    apprise's plugin does not sleep between requests."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        raise NotifyError(_unusable(url))
    plugin = multipart(observed(plugin, url), url)
    plugin.retry = 0  # the sender retries with backoff; apprise must not retry too
    pace = timedelta(0)
    if sender_paces:
        pace = timedelta(seconds=max(float(plugin.request_rate_per_sec), 0.0))
        plugin.request_rate_per_sec = 0  # this instance only: throttle() no longer sleeps
    bundle = apprise.Apprise()
    bundle.add(plugin)
    limits = Limits(body=int(plugin.body_maxlen), title=int(plugin.title_maxlen))
    name = _short(_private_url(plugin))
    return Channel(index=index, name=name, kind=channel_kind(plugin), limits=limits,
                   apprise=bundle, plugin=plugin, key=str(plugin.url_id() or name), pace=pace)


def _unusable(url: str) -> str:
    """Why apprise made no plugin of ``url``, naming its scheme only (the rest may be secret)."""
    if not url.strip():
        return "empty notification URL"
    scheme = url.split(":", 1)[0] if ":" in url else url[:12]
    known: Any = NotificationManager()  # type: ignore[no-untyped-call]  # apprise's singleton
    if ":" in url and scheme.strip().lower() in known:
        return (f"a {scheme.strip().lower()}:// URL apprise cannot use: a part is missing or "
                f"malformed (see https://github.com/caronc/apprise/wiki for its form)")
    return f"not a notification URL apprise understands (scheme {scheme!r})"


def build_channels(urls: Sequence[str], *, sender_paces: bool = False) -> tuple[Channel, ...]:
    return tuple(build_channel(i, url, sender_paces=sender_paces) for i, url in enumerate(urls))
