"""The outbox sender: render due alerts, send them, record the outcome.

An alert is marked sent only when every channel of its subscription has
accepted it; a failed channel is retried later with backoff, and channels
that already succeeded are not sent to again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from service.backoff import retry_delay
from service.config.models import AlertSettings, SubscriptionConfig
from service.notify.channels import Channel
from service.rendering import Message, render_alert
from service.storage.alerts import AlertStore
from service.storage.records import AlertView

log = structlog.get_logger("newswatch.notify")


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Recipient:
    subscription: SubscriptionConfig
    channels: tuple[Channel, ...]


class AlertSender:
    def __init__(
        self, alerts: AlertStore, recipients: Mapping[str, Recipient],
        entity_names: Mapping[str, str], settings: AlertSettings,
        rng: random.Random | None = None,
    ) -> None:
        self._alerts = alerts
        self._recipients = recipients
        self._names = entity_names
        self._settings = settings
        self._rng = rng or random.Random()

    def send_due(
        self, now: Callable[[], datetime], *, ignore_schedule: bool = False
    ) -> SendReport:
        """Send every due alert; ``ignore_schedule`` also retries those backing off."""
        report = SendReport()
        seen: set[int] = set()
        while batch := [
            v for v in self._alerts.due(now(), ignore_schedule=ignore_schedule) if v.id not in seen
        ]:
            for view in batch:
                seen.add(view.id)
                self._send_one(view, now(), report)
        return report

    def _send_one(self, view: AlertView, now: datetime, report: SendReport) -> None:
        recipient = self._recipients.get(view.subscription_id)
        if recipient is None:
            log.warning("alert held: subscription not configured", alert=view.id,
                        subscription=view.subscription_id)
            return
        message = render_alert(view, recipient.subscription, self._names)
        delivered, failures = _deliver(recipient.channels, message, set(view.delivered))
        if not failures:
            self._alerts.mark_sent(view.id, now, sorted(delivered))
            report.sent += 1
            log.info("alert sent", alert=view.id, subscription=view.subscription_id,
                     title=view.title)
            return
        self._record_failure(view, now, sorted(delivered), failures, report)

    def _record_failure(
        self, view: AlertView, now: datetime, delivered: Sequence[int],
        failures: Sequence[str], report: SendReport,
    ) -> None:
        attempts = view.attempts + 1
        dead = attempts >= self._settings.max_attempts
        error = "delivery failed: " + ", ".join(failures)
        self._alerts.mark_failed(
            view.id, error=error, delivered=delivered, dead=dead,
            next_attempt_at=now + retry_delay(attempts, rng=self._rng),
        )
        report.dead += dead
        report.failed += not dead
        report.errors.append(f"alert {view.id} ({view.subscription_id}): {error}")
        log.warning("alert not delivered", alert=view.id, subscription=view.subscription_id,
                    attempts=attempts, dead=dead, error=error)


def _deliver(
    channels: Sequence[Channel], message: Message, already: set[int]
) -> tuple[set[int], list[str]]:
    delivered = set(already)
    failures: list[str] = []
    for channel in channels:
        if channel.index in delivered:
            continue
        if channel.send(message.title, message.body):
            delivered.add(channel.index)
        else:
            failures.append(channel.name)
    return delivered, failures
