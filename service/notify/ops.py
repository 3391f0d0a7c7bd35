"""Messages to ops (``ops.notify``): a feed disabled, a dead letter, a bad reload.

Ops messages are rare and important. A dead letter or a disabled feed is a
*notice* (``notice``): the code that decides it writes it for every ops
channel in the same transaction as its decision (``ops_messages``), then
hands it over here; a channel's thread claims it just before sending and
marks it sent once the channel took it, so a process killed in between
leaves it for the next sender pass of any process (``resume``, also at
start-up), and a failing channel gets it again after the claim's lease. A
refused reload is a notice too, stored on its own (``report``); it is only
told (``notify``) when the database cannot take it. A notice of a channel
no longer configured goes to the configured ones (``resume``, see
``service.storage.ops_messages``). With no channel configured they are only
logged. A failing ops
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError

from service.errors import StorageError
from service.escaping import clean, shorten
from service.notify.channels import Channel, build_channels
from service.rendering import Message
from service.storage.ops_messages import OpsNotice, OpsOutbox, StoredNotice

log = structlog.get_logger("newswatch.ops")

_MAX_BODY = 1500  # fits every channel's limit, Discord's 2,000 included


@dataclass(frozen=True, slots=True)
class _Kept:
    """A stored notice: claimed before its send, marked sent after it."""

    notice: StoredNotice
    outbox: OpsOutbox


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OpsChannel:
    """One ops channel's queue and the thread that sends it, paced."""

    def __init__(self, channel: Channel, wait: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 utcnow: Callable[[], datetime] = _utcnow) -> None:
        self.channel = channel
        self._wait, self._clock, self._utcnow = wait, clock, utcnow
        self._queue: deque[Message | _Kept] = deque()
        self._kept: set[int] = set()  # stored notices in the queue, by id
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._next_at = 0.0  # on ``clock``: no send before this (the channel's pace)

    def put(self, item: Message | _Kept) -> None:
        with self._idle:
            if isinstance(item, _Kept):
                if item.notice.id in self._kept:
                    return
                self._kept.add(item.notice.id)
            self._queue.append(item)
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
                    self.channel.close()  # an SMTP connection is not kept for the next one
                    self._thread = None
                    self._idle.notify_all()
                    return
                item = self._queue[0]
            if isinstance(item, _Kept):
                self._send_kept(item)
            else:
                self._send(item)
            with self._idle:
                self._queue.popleft()
                if isinstance(item, _Kept):
                    self._kept.discard(item.notice.id)

    def _send_kept(self, kept: _Kept) -> None:
        """Claim the stored notice, send it, mark it sent; left for later if any step fails."""
        notice, outbox = kept.notice, kept.outbox
        try:
            if not outbox.claim(notice.id, self._utcnow()):
                return  # sent already, or another process is sending it
            if self._send(Message(title=notice.subject, body=notice.body, kind="text")):
                outbox.sent(notice.id, self._utcnow())
        except (SQLAlchemyError, StorageError) as e:  # its lease ends: sent by a later pass
            log.error("ops message: database error; tried again later", subject=notice.subject,
                      channel=self.channel.name, error=str(e))

    def _send(self, message: Message) -> bool:
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
        return ok


class OpsNotifier:
    """``wait`` and ``clock`` pace each channel's thread (seconds, monotonic)."""

    def __init__(self, channels: Sequence[Channel], *,
                 wait: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 utcnow: Callable[[], datetime] = _utcnow) -> None:
        self._channels = tuple(OpsChannel(c, wait, clock, utcnow) for c in channels)
        self._by_key = {c.channel.key: c for c in reversed(self._channels)}  # first one wins

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(c.channel for c in self._channels)

    @classmethod
    def from_urls(cls, urls: Sequence[str]) -> OpsNotifier:
        return cls(build_channels(urls, sender_paces=True))

    def notify(self, subject: str, body: str) -> bool:
        """Hand the message to every ops channel (sent in their own threads, not kept);
        True when there was something to hand it to, or nothing configured."""
        notice = self.notice(subject, body)
        log.warning("ops message", subject=subject, body=body)
        for channel in self._channels:
            channel.put(Message(title=notice.subject, body=notice.body, kind="text"))
        return True

    def report(self, outbox: OpsOutbox, subject: str, body: str, now: datetime) -> None:
        """Store a notice no decision stores (a refused reload) and hand it over; only
        tell it when the database cannot take it."""
        notice = self.notice(subject, body)
        try:
            stored = outbox.add(notice, now)
        except (SQLAlchemyError, StorageError) as e:
            log.error("ops message: database error; told, not kept", subject=notice.subject,
                      error=str(e))
            self.notify(subject, body)
            return
        self.tell(outbox, notice, stored)

    def notice(self, subject: str, body: str) -> OpsNotice:
        """The notice to store for every ops channel (``tell`` it once stored)."""
        return OpsNotice(subject=f"[newswatch ops] {shorten(clean(subject), 200)}",
                         body=shorten(body, _MAX_BODY), channels=tuple(self._by_key))

    def tell(self, outbox: OpsOutbox, notice: OpsNotice, stored: Iterable[StoredNotice]
             ) -> None:
        """Log a notice just stored and hand it to its channels' threads."""
        log.warning("ops message", subject=notice.subject, body=notice.body)
        self.hand_over(outbox, stored)

    def hand_over(self, outbox: OpsOutbox, notices: Iterable[StoredNotice]) -> int:
        """Give stored notices to their channels' threads; how many this process has."""
        handed = 0
        for notice in notices:
            channel = self._by_key.get(notice.channel)
            if channel is not None:
                channel.put(_Kept(notice, outbox))
                handed += 1
        return handed

    def resume(self, outbox: OpsOutbox, now: datetime) -> int:
        """Hand over the notices of our channels that nobody is sending (a process
        killed before it sent them, a channel that failed, a channel removed from
        the configuration since); how many."""
        if not self._by_key:
            return 0
        for moved in outbox.reroute(self._by_key, now):
            log.warning("ops message of a channel no longer configured: re-routed",
                        subject=moved.subject, removed=moved.removed,
                        to=[self._by_key[key].channel.name for key in moved.to])
        return self.hand_over(outbox, outbox.unsent(self._by_key, now))

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every ops message handed over was tried (sent or failed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return all(c.drain(None if deadline is None else max(deadline - time.monotonic(), 0))
                   for c in self._channels)
