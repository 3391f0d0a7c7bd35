"""Who gets alerts: each subscription's channels and templates, built once at start-up.

A notify URL apprise cannot use, a ``template:`` directory that does not
exist, or a template that does not compile is a configuration error named
after the subscription, so it stops start-up instead of failing at send time.
"""

from __future__ import annotations

import os
from pathlib import Path

from service.config.models import Config, SubscriptionConfig
from service.errors import ConfigError, ConfigProblem, NotifyError
from service.notify.channels import build_channels
from service.notify.ops import OpsNotifier
from service.notify.sender import AlertSender, Recipient
from service.rendering import Renderer, default_renderer
from service.storage.alerts import AlertStore
from service.storage.database import Database
from service.storage.ops_messages import OpsOutbox


def template_dir(config: Config, subscription: SubscriptionConfig) -> Path | None:
    """The subscription's ``template:`` directory, relative to the configuration."""
    if subscription.template is None:
        return None
    return Path(config.directory) / subscription.template


def build_renderer(config: Config, subscription: SubscriptionConfig) -> Renderer:
    directory = template_dir(config, subscription)
    if directory is None:
        return default_renderer()
    if not directory.is_dir():
        raise NotifyError(f"template directory not found: {directory}")
    renderer = Renderer(directory)
    problems = renderer.problems()
    if problems:
        raise NotifyError("template does not compile: " + "; ".join(problems))
    return renderer


def build_recipients(config: Config, *, sender_paces: bool = False) -> dict[str, Recipient]:
    """One set of apprise channels and templates per subscription; problems are config errors.

    ``sender_paces``: the sender paces the channels (``build_channel``); else apprise sleeps.
    """
    recipients: dict[str, Recipient] = {}
    problems: list[ConfigProblem] = []
    for subscription in config.watchlists.subscriptions:
        try:
            channels = build_channels(subscription.notify, sender_paces=sender_paces)
        except NotifyError as e:
            problems.append(_problem(config, subscription, "notify", str(e)))
            continue
        try:
            renderer = build_renderer(config, subscription)
        except NotifyError as e:
            problems.append(_problem(config, subscription, "template", str(e)))
            continue
        recipients[subscription.id] = Recipient(subscription, channels, renderer)
    if problems:
        raise ConfigError(problems)
    return recipients


def _problem(
    config: Config, subscription: SubscriptionConfig, key: str, message: str
) -> ConfigProblem:
    where = os.path.join(config.directory, "watchlists")
    return ConfigProblem(where, None, f"subscriptions[id={subscription.id}].{key}", message)


def alert_sender(config: Config, database: Database, *, sender_paces: bool = False
                 ) -> AlertSender:
    """The outbox sender of a configuration: its recipients, entity names and ops channel.

    The run process and every worker build it the same way, so any of them may
    send (claims are leased: one alert is never sent by two of them), and each pass
    also sends the ops notices nobody is sending (``OpsNotifier.resume``).
    ``sender_paces``: a paced channel is paused between sends and its alerts
    deferred meanwhile (a long-running sender); without it apprise sleeps
    between them, as a single pass that must send everything due needs.
    """
    return AlertSender(
        AlertStore(database), build_recipients(config, sender_paces=sender_paces),
        {entity.id: entity.name for entity in config.watchlists.entities},
        config.settings.alerts, ops=OpsNotifier.from_urls(config.settings.ops.notify),
        ops_outbox=OpsOutbox(database),
    )
