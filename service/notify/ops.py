"""Messages to ops (``ops.notify``): a feed disabled, a dead letter, a bad reload.

Ops messages are rare and important; each is handed over once by the code
that decides it (that code records that it was), to every ``ops.notify``
channel. With no channel configured they are only logged. A failing ops
channel is logged and never breaks the work that reported the problem.

Sending is not done by the caller: the alert sender, the poller and the
workers must not wait for it. apprise paces one service's requests by
sleeping (5.5 s between two emails), so a burst of dead letters to an email
ops channel would hold the caller 5.5 s per message. Each ops channel has
its own queue and thread instead; the thread sends the channel's messages in
order, waiting the channel's pace between two (``Channel.pace``; the plugin
itself does not sleep), so a slow channel holds up neither the caller nor
the other ops channels. The thread starts with the first message and ends
when its queue is empty; it is not a daemon, so a process that exits still
delivers what it handed over (``drain`` waits for that explicitly).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import structlog

from service.escaping import clean, shorten
from service.notify.channels import Channel, build_channels
from service.rendering import Message

log = structlog.get_logger("newswatch.ops")

_MAX_BODY = 1500  # fits every channel's limit, Discord's 2,000 included


class OpsChannel:
    """One ops channel's queue and the thread that sends it, paced."""

    def __init__(self, channel: Channel, wait: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.channel = channel
        self._wait, self._clock = wait, clock
        self._queue: deque[Message] = deque()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._next_at = 0.0  # on ``clock``: no send before this (the channel's pace)

    def put(self, message: Message) -> None:
        with self._idle:
            self._queue.append(message)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=False,
                                                name=f"ops {self.channel.name}")
                self._thread.start()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every message handed over was tried; False if ``timeout`` came first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _run(self) -> None:
        while True:
            with self._idle:
                if not self._queue:
                    self._thread = None
                    self._idle.notify_all()
                    return
                message = self._queue[0]
            self._send(message)
            with self._idle:
                self._queue.popleft()

    def _send(self, message: Message) -> None:
        delay = self._next_at - self._clock()
        if delay > 0:
            self._wait(delay)
        try:
            ok = self.channel.send(message).ok
        finally:
            self._next_at = self._clock() + self.channel.pace.total_seconds()
        if not ok:
            log.error("ops message not delivered", subject=message.title,
                      channel=self.channel.name)


class OpsNotifier:
    """``wait`` and ``clock`` pace each channel's thread (seconds, monotonic)."""

    def __init__(self, channels: Sequence[Channel], *,
                 wait: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._channels = tuple(OpsChannel(c, wait, clock) for c in channels)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(c.channel for c in self._channels)

    @classmethod
    def from_urls(cls, urls: Sequence[str]) -> OpsNotifier:
        return cls(build_channels(urls, sender_paces=True))

    def notify(self, subject: str, body: str) -> bool:
        """Hand the message to every ops channel (sent in their own threads); True when
        there was something to hand it to, or nothing configured."""
        message = Message(title=f"[newswatch ops] {shorten(clean(subject), 200)}",
                          body=shorten(body, _MAX_BODY), kind="text")
        log.warning("ops message", subject=subject, body=body)
        for channel in self._channels:
            channel.put(message)
        return True

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every ops message handed over was tried (sent or failed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return all(c.drain(None if deadline is None else max(deadline - time.monotonic(), 0))
                   for c in self._channels)
