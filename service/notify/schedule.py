"""When alerts may go out: quiet hours, digest times, the hourly cap. Pure.

    instant alert ─► mode digest?           ─► next digest
                  ─► inside quiet hours?    ─► held until they end
                  ─► max_per_hour reached?  ─► next digest (never dropped)
                  ─► send now
    digest backlog ─► due (every N, or at HH:MM in a timezone) and not quiet ─► send

Every function takes ``now``; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from service.config.models import DigestConfig, QuietHoursConfig, SubscriptionConfig

DEFAULT_DIGEST = DigestConfig(every=timedelta(hours=1))
HOUR = timedelta(hours=1)

Route = Literal["send", "hold", "digest"]


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    until: datetime | None = None  # for "hold": when quiet hours end


def quiet_until(quiet: QuietHoursConfig | None, now: datetime) -> datetime | None:
    """The end of the quiet period ``now`` falls in, or None outside quiet hours."""
    if quiet is None or quiet.start == quiet.end:
        return None
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= clock < quiet.end
        end_day = local.date()
    else:  # overnight, e.g. 22:00-07:00
        inside = clock >= quiet.start or clock < quiet.end
        end_day = local.date() + timedelta(days=1 if clock >= quiet.start else 0)
    if not inside:
        return None
    return _at(end_day, quiet.end, zone)


def _at(day: object, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)  # type: ignore[arg-type]


def digest_schedule(subscription: SubscriptionConfig) -> DigestConfig:
    return subscription.digest or DEFAULT_DIGEST


def next_digest(digest: DigestConfig, oldest: datetime, last: datetime | None) -> datetime:
    """When the digest holding an alert from ``oldest`` goes out.

    ``every``: one period after the last digest (or after the oldest alert when
    none went out yet). ``at``: the first HH:MM (in its timezone) after both the
    oldest alert and the last digest.
    """
    if digest.every is not None:
        return (last or oldest) + digest.every
    assert digest.at is not None
    zone = ZoneInfo(digest.timezone)
    anchor = max(oldest, last) if last else oldest
    local = anchor.astimezone(zone)
    candidate = _at(local.date(), digest.at, zone)
    return candidate if candidate > anchor else _at(local.date() + timedelta(days=1),
                                                    digest.at, zone)


def route_instant(
    subscription: SubscriptionConfig, now: datetime, sent_last_hour: int
) -> Decision:
    """What to do with one due instant alert of ``subscription`` at ``now``."""
    if subscription.mode == "digest":
        return Decision("digest")
    until = quiet_until(subscription.quiet_hours, now)
    if until is not None:
        return Decision("hold", until)
    cap = subscription.max_per_hour
    if cap is not None and sent_last_hour >= cap:
        return Decision("digest")
    return Decision("send")


def digest_due(
    subscription: SubscriptionConfig, now: datetime, oldest: datetime, last: datetime | None,
    *, flush: bool = False,
) -> bool:
    """Whether the digest backlog goes out now: its time has come (or ``flush``: now
    anyway), and not in quiet hours (not even when flushing)."""
    if quiet_until(subscription.quiet_hours, now) is not None:
        return False
    return flush or next_digest(digest_schedule(subscription), oldest, last) <= now
