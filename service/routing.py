"""Routing: which subscriptions an article's classification satisfies.

A subscription matches when every field it lists (topics, entities, events)
matches at least one listed id; with both events and entities, a listed
entity must take part in a listed event (DESIGN.md, matching semantics).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.config.models import SubscriptionConfig
from service.domain import Classification, Match


def _events_satisfied(subscription: SubscriptionConfig, classification: Classification) -> bool:
    events = [classification.get("event", e) for e in subscription.events]
    present = [event for event in events if event is not None]
    if not subscription.entities:
        return bool(present)
    wanted = set(subscription.entities)
    return any(wanted.intersection(event.participants) for event in present)


def subscription_matches(subscription: SubscriptionConfig, classification: Classification) -> bool:
    if subscription.topics and not classification.ids("topic") & set(subscription.topics):
        return False
    if subscription.entities and not classification.ids("entity") & set(subscription.entities):
        return False
    return not subscription.events or _events_satisfied(subscription, classification)


def route(
    subscriptions: Sequence[SubscriptionConfig], classification: Classification
) -> list[str]:
    """Ids of the subscriptions that should be alerted, in configuration order."""
    return [s.id for s in subscriptions if subscription_matches(s, classification)]


def relevant_matches(
    subscription: SubscriptionConfig, matches: Sequence[Match]
) -> list[Match]:
    """The matches a subscription's message should show: the ids it listed."""
    listed = {
        "topic": set(subscription.topics),
        "entity": set(subscription.entities),
        "event": set(subscription.events),
    }
    return [m for m in matches if m.id in listed[m.kind]]
