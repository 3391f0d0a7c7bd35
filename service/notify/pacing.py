"""When each channel may be sent to again, and which turn a deferred message gets.

apprise paces the requests to one service by sleeping (``request_rate_per_sec``:
5.5 s for email). The outbox sender must not sleep (every other channel's
alerts would wait), so it pauses the channel instead: for ``Channel.pace``
after each send, and for as long as a service's Retry-After asks. A message
for a paused channel is deferred, and each one is given its own *turn*, one
pace after the turn before it:

    burst of N alerts to a channel paced p, first sent at t
      alert k deferred once, to t + k·p (one statement for the whole burst)
      a pass at t + k·p claims alert k alone and sends it

so the burst costs O(N) row updates, not a claim and a deferral of every
waiting alert on every pass (N²/2). A message that comes back at its turn
while the channel is still paused (the previous send went out a little late)
keeps its place: it goes when the pause ends, not behind the line. Turns live
in this sender's memory; a sender that restarts only sends them sooner, and
then pauses again. Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class _Line:
    """One channel's pause and the turns given to messages waiting for it."""

    paused_until: datetime | None = None
    turns: list[datetime] = field(default_factory=list)  # given, not yet passed
    last_id: int = 0  # the highest alert id given a turn


class Pacing:
    """Per channel (``Channel.key``): until when it is paused, and the turns given."""

    def __init__(self) -> None:
        self._lines: dict[str, _Line] = {}

    def paused_until(self, key: str, now: datetime) -> datetime | None:
        """Until when the channel is paused, or None when it may be sent to at ``now``."""
        line = self._lines.get(key)
        if line is None or line.paused_until is None or line.paused_until <= now:
            return None
        return line.paused_until

    def pause(self, key: str, until: datetime) -> None:
        """No send through the channel before ``until`` (an earlier pause is not shortened)."""
        line = self._lines.setdefault(key, _Line())
        if line.paused_until is None or until > line.paused_until:
            line.paused_until = until

    def turn(self, paused: Iterable[tuple[str, timedelta]], alert_id: int, now: datetime
             ) -> datetime:
        """When a message (highest alert id ``alert_id``) waiting for these paused
        channels (key, pace) goes: after the turns already given on each, or, for a
        message given a turn before, as soon as they are free."""
        paused = list(paused)
        when = now
        for key, pace in paused:
            line = self._lines.setdefault(key, _Line())
            free = max(line.paused_until or now, now)
            if alert_id > line.last_id and line.turns:
                free = max(free, max(line.turns) + pace)
            when = max(when, free)
        for key, _ in paused:
            line = self._lines[key]
            line.turns.append(when)
            line.last_id = max(line.last_id, alert_id)
        return when

    def next_turn(self, claimed_at: datetime) -> datetime | None:
        """When the first channel with a message waiting for its turn may send it.

        ``claimed_at``: when the sender last claimed what was due; a turn that came
        since was not claimed yet (the answer is then in the past: at once).
        """
        earliest: datetime | None = None
        for line in self._lines.values():
            line.turns = [t for t in line.turns if t > claimed_at]
            if not line.turns:
                continue
            due = max(min(line.turns), line.paused_until or claimed_at)
            earliest = due if earliest is None else min(earliest, due)
        return earliest
