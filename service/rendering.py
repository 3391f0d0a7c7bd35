"""Alert messages as text: what matched, the sentence that matched, the outlets.

Pure: an alert view and the subscription in, a title and a body out. Feed
text is untrusted; control characters are removed here and each channel's
own escaping is applied by the notifier edge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.config.models import SubscriptionConfig
from service.domain import Match
from service.routing import relevant_matches
from service.storage.records import AlertView

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_MAX_SENTENCE = 400
_KIND_LABELS = (("topic", "Topic"), ("entity", "Entity"), ("event", "Event"))


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def clean(text: str) -> str:
    """One line of untrusted text: no control characters, single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _shorten(text: str, limit: int = _MAX_SENTENCE) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _match_lines(match: Match, names: Mapping[str, str]) -> list[str]:
    head = clean(match.name)
    if match.participants:
        people = ", ".join(clean(names.get(p, p)) for p in match.participants)
        head += f" (taking part: {people})"
    lines = [head]
    for evidence in match.evidence[:1]:
        lines.append(f"  > {_shorten(clean(evidence.marked()))}")
    return lines


def _matches_block(matches: Sequence[Match], names: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for kind, label in _KIND_LABELS:
        for match in (m for m in matches if m.kind == kind):
            first, *rest = _match_lines(match, names)
            lines.append(f"{label}: {first}")
            lines.extend(rest)
    return lines


def render_alert(
    view: AlertView, subscription: SubscriptionConfig, entity_names: Mapping[str, str]
) -> Message:
    """The message for one alert: title line and a plain-text/markdown body."""
    title = clean(view.title) or "(untitled)"
    subscription_name = clean(subscription.name or subscription.id)
    when = view.published_at.strftime("%Y-%m-%d %H:%M UTC") if view.published_at else None
    lines = [title]
    if view.url:
        lines.append(view.url)
    lines.append(" · ".join(filter(None, [clean(view.source), when])))
    lines.append("")
    lines.extend(_matches_block(relevant_matches(subscription, view.matches), entity_names))
    if view.other_outlets:
        outlets = ", ".join(clean(o) for o in view.other_outlets)
        lines.append(f"Also reported by {len(view.other_outlets)} outlet(s): {outlets}")
    lines.append(f"Subscription: {subscription_name}")
    return Message(title=f"[newswatch] {subscription_name}: {title}", body="\n".join(lines))
