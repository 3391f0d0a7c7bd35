"""The outbox sender: claim due alerts, route them, send them, record the outcome.

    claim due instant alerts (a lease; SKIP LOCKED on PostgreSQL), a batch at a time
      each: digest mode / quiet hours / hourly cap ─► digest, hold, or send
      a send that a channel took is marked at once (one small UPDATE in
      autocommit on the pass's own connection); outcomes that sent nothing
      (held, digested, deferred) are recorded together at the end of the batch
    digest backlogs whose time has come ─► one digest message per subscription
    send: every channel not yet delivered gets the message rendered for its kind
      all accepted ─► sent
      some failed  ─► retried later (backoff with jitter, at least Retry-After);
                      channels that accepted are not sent to again
      last attempt ─► dead, and ops told once (in the ops notifier's own thread)

A channel is paused after each send for its pacing interval (``Channel.pace``,
apprise's request rate, e.g. 5.5 s for email) and after a Retry-After: its
next alerts are deferred, each to its own turn (``pacing``), no attempt
counted, while other channels' alerts go out at once. ``SendReport.resume_at``
says when the first deferred one is due.

A sender that dies after a channel took a message but before its mark is
committed sends that one message again when its lease ends: at most the one
alert (or digest) in flight per sender, never the rest of its batch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from itertools import groupby

import structlog
from jinja2 import TemplateError

from service.backoff import retry_delay
from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import Channel, Delivery
from service.notify.ops import OpsNotifier
from service.notify.pacing import Pacing
from service.notify.schedule import (
    HOUR,
    digest_due,
    digest_schedule,
    next_digest,
    quiet_until,
    route_instant,
)
from service.rendering import ChannelKind, Limits, Message, Renderer, default_renderer
from service.storage.alerts import AlertStore, Deferred, Marks, Outcomes
from service.storage.ops_messages import OpsOutbox
from service.storage.records import AlertView

log = structlog.get_logger("newswatch.notify")

_SHRINK_TRIES = 5
# A Retry-After (or rate-limit reset) further out than this is read as this: a
# misconfigured or hostile endpoint must not park alerts for days. The attempt
# still counts towards max_attempts.
RETRY_AFTER_CAP = timedelta(hours=1)
CLAIM_BATCH = 100  # alerts claimed (leased) at a time


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0  # quiet hours
    digested: int = 0  # moved into a digest
    digests: int = 0  # digest messages sent
    deferred: int = 0  # a channel paused (pacing, Retry-After): no attempt made, none counted
    resume_at: datetime | None = None  # when the first deferred alert is due again
    errors: list[str] = field(default_factory=list)
    # per alert sent: seconds from its entry stored to its send (the process that sends
    # observes them in its entry-to-alert histogram, whatever the order of the ids)
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Waiting:
    """Alerts left for later, and when the first of each kind may go out."""

    digest: int = 0  # waiting for their subscription's digest
    next_digest: datetime | None = None
    held: int = 0  # quiet hours, a channel's Retry-After, another sender sending it now
    held_until: datetime | None = None
    retrying: int = 0  # failed, to be tried again
    next_retry: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    subscription: SubscriptionConfig
    channels: tuple[Channel, ...]
    renderer: Renderer = field(default_factory=default_renderer)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One message to every channel of a recipient."""

    delivered: frozenset[int]
    failures: tuple[str, ...]
    retry_after: timedelta | None
    deferred: tuple[Channel, ...] = ()  # not tried: paused (pacing, Retry-After)
    # (channel index, To, recipient) that took it on channels not all of whose took it
    accepted: frozenset[tuple[int, str, str]] = frozenset()


Make = Callable[[ChannelKind, Limits], Message]


def render_for(channel: Channel, make: Make) -> Message:
    """The message rendered for ``channel``'s kind, fitting it also after apprise's conversion."""
    limits = channel.limits
    message = make(channel.kind, limits)
    for _ in range(_SHRINK_TRIES):
        if channel.converted_length(message) <= channel.limits.body:
            break
        limits = Limits(body=limits.body * 3 // 4, title=limits.title)
        message = make(channel.kind, limits)
    return message


def deliver(
    channels: Sequence[Channel], make: Make, already: Iterable[int], now: datetime | None = None,
    pacing: Pacing | None = None, accepted: Iterable[tuple[int, str, str]] = (),
) -> Outcome:
    """Send to every channel not in ``already``; who accepted, who failed, how long to wait.

    ``accepted``: recipients of a channel (email) that took it before, not sent to again.

    ``pacing`` (with ``now``): a paused channel is not tried (deferred); one
    that asks to wait is paused, so the rest of a batch does not hammer a
    rate-limited service, and each send attempt pauses its channel for the
    channel's pacing interval.
    """
    delivered = set(already)
    took = set(accepted)
    failures: list[str] = []
    deferred: list[Channel] = []
    waits: list[timedelta] = []
    for channel in channels:
        if channel.index in delivered:
            continue
        until = pacing.paused_until(channel.key, now) if pacing and now else None
        if until is not None and now is not None:
            deferred.append(channel)
            waits.append(until - now)
            continue
        skip = frozenset((to, r) for i, to, r in took if i == channel.index)
        try:
            result: Delivery = channel.send(render_for(channel, make), now, skip)
        except TemplateError as e:  # an override template that fails on this alert
            failures.append(f"{channel.name} (template: {type(e).__name__}: {e})")
            continue
        took.update((channel.index, to, r) for to, r in result.accepted)
        if pacing and now and channel.pace:
            pacing.pause(channel.key, now + channel.pace)
        if result.ok:
            delivered.add(channel.index)
            continue
        failures.append(f"{channel.name} ({result.reason})" if result.reason else channel.name)
        if result.retry_after is not None:
            wait = min(result.retry_after, RETRY_AFTER_CAP)
            waits.append(wait)
            if pacing and now:
                pacing.pause(channel.key, now + wait)
    return Outcome(frozenset(delivered), tuple(failures), max(waits, default=None),
                   tuple(deferred), frozenset(t for t in took if t[0] not in delivered))


@dataclass
class _Pass:
    """One ``send_due`` pass: its report, its marks, what is not yet recorded, the
    hourly counts."""

    report: SendReport
    marks: Marks
    pending: Outcomes = field(default_factory=Outcomes)  # sent nothing: recorded per batch
    sent_last_hour: dict[str, int] = field(default_factory=dict)  # per capped subscription


class AlertSender:
    def __init__(
        self, alerts: AlertStore, recipients: Mapping[str, Recipient],
        entity_names: Mapping[str, str], settings: AlertSettings,
        rng: random.Random | None = None, ops: OpsNotifier | None = None,
        ops_outbox: OpsOutbox | None = None,
    ) -> None:
        self._alerts = alerts
        self._recipients = recipients
        self._names = entity_names
        self._settings = settings
        self._rng = rng or random.Random()
        self._ops = ops or OpsNotifier(())
        self._ops_outbox = ops_outbox
        self._pacing = Pacing()

    def send_due(
        self, now: Callable[[], datetime], *, ignore_schedule: bool = False,
        flush_digests: bool = False,
    ) -> SendReport:
        """Send every due alert and digest.

        ``ignore_schedule`` also retries those backing off (``run --once``: the
        run is the retry); never before a lease or a Retry-After ends.
        ``flush_digests`` sends every digest backlog now (quiet hours still hold them).
        """
        if self._ops_outbox is not None:  # notices a killed process or failing channel left
            self._ops.resume(self._ops_outbox, now())
        with self._alerts.marking() as marks:
            run = _Pass(SendReport(), marks)
            claimed_at = self._send_instant(now, run, ignore_schedule)
            self._send_digests(now(), run, ignore_schedule=ignore_schedule, flush=flush_digests)
        for recipient in self._recipients.values():  # no SMTP connection kept open for long
            for channel in recipient.channels:
                channel.close_idle()
        # turns that came after the last claim are due now: the next pass comes at once
        run.report.resume_at = _earliest(run.report.resume_at,
                                         self._pacing.next_turn(claimed_at))
        return run.report

    def _send_instant(self, now: Callable[[], datetime], run: _Pass, ignore_schedule: bool
                      ) -> datetime:
        """Claim and route every due instant alert, a batch at a time; when the last
        claim was made."""
        after = 0  # claims go on in id order, so no alert is taken twice in one pass
        claimed_at = now()
        while batch := self._alerts.claim(claimed_at, ignore_schedule=ignore_schedule,
                                          after=after, limit=CLAIM_BATCH):
            after = batch[-1].id
            for view in batch:
                self._route_one(view, now(), run)
            self._record(run)
            if len(batch) < CLAIM_BATCH:  # all that was due; newer ones go next pass
                break
            claimed_at = now()
        return claimed_at

    def _record(self, run: _Pass) -> None:
        self._alerts.record(run.pending)
        run.pending = Outcomes()

    def waiting(self, now: datetime) -> Waiting:
        """What is pending after a pass: how many alerts wait for what, and until when."""
        digest = held = retrying = 0
        held_until: datetime | None = None
        next_retry: datetime | None = None
        oldest: dict[str, datetime] = {}  # per subscription: its digest backlog's oldest alert
        floor: dict[str, datetime] = {}  # ...and the earliest any of it may be sent
        for alert in self._alerts.pending():
            sub = alert.subscription_id
            if alert.digest:
                digest += 1
                oldest[sub] = min(alert.created_at, oldest.get(sub, alert.created_at))
                floor[sub] = min(alert.next_at, floor.get(sub, alert.next_at))
            elif alert.attempts:
                retrying += 1
                next_retry = _earliest(next_retry, alert.next_at)
            else:
                held += 1
                held_until = _earliest(held_until, alert.next_at)
        next_digest_at: datetime | None = None
        for sub, first in oldest.items():
            next_digest_at = _earliest(next_digest_at,
                                       self._next_digest(sub, first, max(now, floor[sub])))
        return Waiting(digest=digest, next_digest=next_digest_at, held=held,
                       held_until=held_until, retrying=retrying, next_retry=next_retry)

    def _next_digest(self, subscription_id: str, oldest: datetime, earliest: datetime
                     ) -> datetime | None:
        """When this subscription's digest backlog goes out, at ``earliest`` or later."""
        recipient = self._recipients.get(subscription_id)
        if recipient is None:
            return None
        subscription = recipient.subscription
        last = self._alerts.last_digest_at(subscription_id)
        when = max(next_digest(digest_schedule(subscription), oldest, last), earliest)
        return quiet_until(subscription.quiet_hours, when) or when

    def _route_one(self, view: AlertView, now: datetime, run: _Pass) -> None:
        recipient = self._recipients.get(view.subscription_id)
        if recipient is None:
            log.warning("alert held: subscription not configured", alert=view.id,
                        subscription=view.subscription_id)
            return
        subscription = recipient.subscription
        decision = route_instant(subscription, now, self._sent_last_hour(subscription, now, run))
        if decision.route == "hold" and decision.until is not None:
            run.pending.held.append((view.id, decision.until))
            run.report.held += 1
        elif decision.route == "digest":
            run.pending.digested.append((view.id, now))
            run.report.digested += 1
        elif self._send(recipient, [view], now, run, digest=False) and subscription.max_per_hour:
            run.sent_last_hour[subscription.id] += 1

    def _sent_last_hour(self, subscription: SubscriptionConfig, now: datetime, run: _Pass
                        ) -> int:
        """Instant alerts of a capped subscription sent in the last hour: read once a
        pass, then counted here (this pass's sends may not be recorded yet)."""
        if not subscription.max_per_hour:
            return 0
        if subscription.id not in run.sent_last_hour:
            run.sent_last_hour[subscription.id] = self._alerts.sent_instantly_since(
                subscription.id, now - HOUR)
        return run.sent_last_hour[subscription.id]

    def _send_digests(
        self, now: datetime, run: _Pass, *, ignore_schedule: bool, flush: bool
    ) -> None:
        backlog = self._alerts.digest_backlog(now, ignore_schedule=ignore_schedule)
        for subscription_id, oldest in backlog.items():
            recipient = self._recipients.get(subscription_id)
            last = self._alerts.last_digest_at(subscription_id)
            if recipient is None or not digest_due(recipient.subscription, now, oldest, last,
                                                   flush=flush):
                continue
            views = self._alerts.claim(now, digest=True, subscription_id=subscription_id,
                                       limit=1000, ignore_schedule=ignore_schedule)
            ok = True
            for _, group in groupby(sorted(views, key=_delivered_key), key=_delivered_key):
                ok &= self._send(recipient, list(group), now, run, digest=True)
            self._record(run)
            if views and ok:
                self._alerts.record_digest(subscription_id, now)
                run.report.digests += 1

    def _send(
        self, recipient: Recipient, views: Sequence[AlertView], now: datetime,
        run: _Pass, *, digest: bool,
    ) -> bool:
        """Send one message (an alert, or a digest of ``views``); True when all took it."""
        make = message_maker(recipient, views, self._names, digest=digest)
        outcome = deliver(recipient.channels, make, views[0].delivered, now, self._pacing,
                          views[0].accepted)
        ids = [v.id for v in views]
        report, delivered = run.report, tuple(sorted(outcome.delivered))
        if not outcome.failures and outcome.deferred:
            until = self._pacing.turn(((c.key, c.pace) for c in outcome.deferred), max(ids), now)
            reason = (f"deferred until {until:%Y-%m-%d %H:%M:%S} UTC: "
                      + ", ".join(c.name for c in outcome.deferred) + " asked to wait")
            deferred = [Deferred(i, until, delivered, reason) for i in ids]
            if outcome.delivered - set(views[0].delivered):  # a channel took it: mark now
                for item in deferred:
                    run.marks.deferred(item)
            else:
                run.pending.deferred.extend(deferred)
            report.deferred += len(ids)
            report.resume_at = _earliest(report.resume_at, until)
            log.info("alert deferred: a channel is paused", alerts=ids,
                     subscription=recipient.subscription.id, until=until.isoformat(),
                     channels=[c.name for c in outcome.deferred])
            return False
        if not outcome.failures:
            run.marks.sent(ids, now, delivered)
            report.sent += len(ids)
            report.latencies.extend((now - v.seen_at).total_seconds() for v in views
                                    if v.seen_at is not None)
            log.info("digest sent" if digest else "alert sent", alerts=ids,
                     subscription=recipient.subscription.id)
            return True
        for view in views:
            self._record_failure(view, now, outcome, report)
        return False

    def _record_failure(
        self, view: AlertView, now: datetime, outcome: Outcome, report: SendReport
    ) -> None:
        attempts = view.attempts + 1
        error = "delivery failed: " + ", ".join(outcome.failures)
        wait = retry_delay(attempts, rng=self._rng)
        floor = None
        if outcome.retry_after is not None:  # the service's wish is a floor, capped
            floor = min(outcome.retry_after, RETRY_AFTER_CAP)
            wait = max(wait, floor)
        subject = f"alert {view.id} dead-lettered"
        body = (f"Alert {view.id} of subscription {view.subscription_id} ({view.title!r}) "
                f"was not delivered after {attempts} attempts: {error}")
        notice = self._ops.notice(subject, body)
        stored = self._alerts.mark_failed(
            view.id, error=error, delivered=sorted(outcome.delivered),
            next_attempt_at=now + wait, max_attempts=self._settings.max_attempts,
            not_before=now + floor if floor is not None else None, notice=notice, now=now,
            accepted=outcome.accepted,
        )
        dead = stored is not None
        report.dead += dead
        report.failed += not dead
        report.errors.append(f"alert {view.id} ({view.subscription_id}): {error}")
        log.warning("alert not delivered", alert=view.id, subscription=view.subscription_id,
                    attempts=attempts, dead=dead, error=error, retry_in=str(wait))
        if stored is not None:
            if self._ops_outbox is None:  # nowhere to keep it: told, not kept
                self._ops.notify(subject, body)
            else:
                self._ops.tell(self._ops_outbox, notice, stored)


def _earliest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None else min(current, candidate)


def _delivered_key(view: AlertView) -> tuple[tuple[int, ...], tuple[tuple[int, str, str], ...]]:
    return tuple(sorted(view.delivered)), tuple(sorted(view.accepted))


def message_maker(
    recipient: Recipient, views: Sequence[AlertView], names: Mapping[str, str], *, digest: bool
) -> Make:
    """How to render these alerts (one alert, or a digest) for a channel kind and limits;
    rendered once per kind and limits, however many channels share them."""
    renderer, subscription = recipient.renderer, recipient.subscription

    @cache
    def make(kind: ChannelKind, limits: Limits) -> Message:
        if digest:
            return renderer.digest(kind, views, subscription, names, limits)
        return renderer.alert(kind, views[0], subscription, names, limits)

    return make
