"""One SMTP connection per email channel, kept between messages, never a message twice.

Against a real SMTP server (aiosmtpd on loopback) that counts the
connections it accepts: a burst goes over one connection; a connection the
server dropped, or one idle longer than ``IDLE_FOR``, is replaced before the
next message (each message arrives once); a message refused on its way is
reported failed and not sent again over a new connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.notify.channels import Channel, build_channel
from service.notify.mail import IDLE_FOR, MultipartEmail
from tests.notifyserver import SmtpInbox
from tests.test_notify_channels import _send, _view


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with SmtpInbox() as inbox:
        yield inbox


def _channel(inbox: SmtpInbox, clock: Clock) -> Channel:
    channel = build_channel(0, inbox.url(), sender_paces=True)  # apprise does not sleep
    assert isinstance(channel.plugin, MultipartEmail)
    channel.plugin.clock = clock
    return channel


def _subjects(inbox: SmtpInbox, count: int) -> list[str]:
    return [str(m["Subject"]).rsplit(": ", 1)[1] for m in inbox.wait_for(count)]


def test_a_burst_goes_over_one_connection(smtp: SmtpInbox) -> None:
    channel = _channel(smtp, Clock())
    for i in range(5):
        assert _send(channel, [_view(title=f"Story {i}")])
    assert _subjects(smtp, 5) == [f"Story {i}" for i in range(5)]
    assert smtp.connections == 1


def test_a_connection_the_server_dropped_is_replaced_before_the_message(
    smtp: SmtpInbox,
) -> None:
    channel = _channel(smtp, Clock())
    assert _send(channel, [_view(title="Story 0")])
    smtp.wait_for(1)
    smtp.hang_up()
    assert _send(channel, [_view(title="Story 1")])
    assert _subjects(smtp, 2) == ["Story 0", "Story 1"]  # each once
    assert smtp.connections == 2


def test_an_idle_connection_is_not_used_after_its_lifetime(smtp: SmtpInbox) -> None:
    clock = Clock()
    channel = _channel(smtp, clock)
    assert _send(channel, [_view(title="Story 0")])
    clock.now += IDLE_FOR / 2
    assert _send(channel, [_view(title="Story 1")])
    clock.now += IDLE_FOR + 1
    channel.close_idle()  # the sender's pass ends: closed, not kept
    assert channel.plugin.connections == 1
    assert _send(channel, [_view(title="Story 2")])
    assert _subjects(smtp, 3) == ["Story 0", "Story 1", "Story 2"]
    assert smtp.connections == 2


class RefusingTheSecond(SmtpInbox):
    """Refuses the second message at the end of its DATA (451), takes the others."""

    def __init__(self) -> None:
        super().__init__()
        self.data = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data += 1
        if self.data == 2:
            return "451 try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_message_refused_on_its_way_is_not_sent_again_here() -> None:
    smtp = RefusingTheSecond()
    with smtp:
        channel = _channel(smtp, Clock())
        assert _send(channel, [_view(title="Story 0")])  # over the first connection
        assert not _send(channel, [_view(title="Story 1")])  # refused: failed, the outbox
        assert _send(channel, [_view(title="Story 2")])  # ... retries it later
        assert _subjects(smtp, 2) == ["Story 0", "Story 2"]
        # the refusal closed its connection: not reused for what came after
        assert (smtp.data, smtp.connections) == (3, 2)
