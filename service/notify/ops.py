"""Messages to ops (``ops.notify``): a feed disabled, a dead letter, a bad reload.

Ops messages are rare and important; each is sent once by the code that
decides it (that code records that it was sent), to every ``ops.notify``
channel. With no channel configured they are only logged. A failing ops
channel is logged and never breaks the work that reported the problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from service.escaping import clean, shorten
from service.notify.channels import Channel, build_channels
from service.rendering import Message

log = structlog.get_logger("newswatch.ops")

_MAX_BODY = 1500  # fits every channel's limit, Discord's 2,000 included


class OpsNotifier:
    def __init__(self, channels: Sequence[Channel]) -> None:
        self._channels = tuple(channels)

    @classmethod
    def from_urls(cls, urls: Sequence[str]) -> OpsNotifier:
        return cls(build_channels(urls))

    def notify(self, subject: str, body: str) -> bool:
        """Send to every ops channel; True when all accepted (or there are none)."""
        message = Message(title=f"[newswatch ops] {shorten(clean(subject), 200)}",
                          body=shorten(body, _MAX_BODY), kind="text")
        log.warning("ops message", subject=subject, body=body)
        failed = [c.name for c in self._channels if not c.send(message).ok]
        if failed:
            log.error("ops message not delivered", subject=subject, channels=failed)
        return not failed
