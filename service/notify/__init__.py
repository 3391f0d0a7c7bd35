"""Notifier edge: apprise channels and the outbox sender."""

from service.notify.channels import Channel, build_channels, redact
from service.notify.sender import AlertSender, Recipient, SendReport

__all__ = ["AlertSender", "Channel", "Recipient", "SendReport", "build_channels", "redact"]
