"""Apprise channels: one ``Apprise`` object per notify URL, built once.

Each URL gets its own object so that a partial failure (Slack down, email
up) retries only the channel that failed. Names shown in logs and status
are apprise's privacy-redacted URLs, never the secrets themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apprise

import service.notify.console  # noqa: F401  (registers console://)
from service.errors import NotifyError

# apprise names notify URLs, tokens included, in its own log messages (a URL
# that fails to load is logged whole, webhook tokens at debug). newswatch
# reports outcomes itself with redacted names, so apprise's logger stays off.
logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True, slots=True)
class Channel:
    index: int  # position in the subscription's notify list
    name: str  # redacted URL, safe to log
    apprise: apprise.Apprise

    def send(self, title: str, body: str) -> bool:
        return bool(self.apprise.notify(body=body, title=title))


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


def build_channel(index: int, url: str) -> Channel:
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        scheme = url.split(":", 1)[0] if ":" in url else url[:12]
        raise NotifyError(f"not a notification URL apprise understands (scheme {scheme!r})")
    bundle = apprise.Apprise()
    bundle.add(plugin)
    return Channel(index=index, name=_short(_private_url(plugin)), apprise=bundle)


def build_channels(urls: Sequence[str]) -> tuple[Channel, ...]:
    return tuple(build_channel(i, url) for i, url in enumerate(urls))
