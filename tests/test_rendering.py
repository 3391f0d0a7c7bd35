"""Alert rendering: names what matched and why; untrusted text cleaned."""

from __future__ import annotations

from datetime import UTC, datetime

from service.config.models import SubscriptionConfig
from service.domain import Evidence, Match
from service.rendering import clean, render_alert
from service.storage.records import AlertView

SENTENCE = "On May 27, Aliyev pardoned French national Théo Clerc."


def _view(title: str = "Pardon signals thaw", outlets: tuple[str, ...] = ()) -> AlertView:
    evidence = Evidence("content", SENTENCE, ((11, 17), (18, 26), (43, 53)))
    return AlertView(
        id=1, subscription_id="pardon-watch", story_id=1, attempts=0, delivered=(),
        title=title, url="https://www.azernews.az/a/1", source="AzerNews",
        published_at=datetime(2025, 5, 27, 17, 23, tzinfo=UTC),
        matches=(
            Match("entity", "ilham-aliyev", "Ilham Aliyev", (evidence,)),
            Match("entity", "emmanuel-macron", "Emmanuel Macron"),
            Match("event", "pardon", "Pardon", (evidence,), ("ilham-aliyev", "theo-clerc")),
        ),
        other_outlets=outlets,
    )


SUB = SubscriptionConfig(id="pardon-watch", name="Pardon watch", notify=("console://",),
                         events=("pardon",), entities=("ilham-aliyev", "theo-clerc"))
NAMES = {"ilham-aliyev": "Ilham Aliyev", "theo-clerc": "Théo Clerc"}


def test_message_names_subscription_title_link_source_and_why() -> None:
    message = render_alert(_view(), SUB, NAMES)
    assert message.title == "[newswatch] Pardon watch: Pardon signals thaw"
    body = message.body
    assert "https://www.azernews.az/a/1" in body
    assert "AzerNews · 2025-05-27 17:23 UTC" in body
    assert "Event: Pardon (taking part: Ilham Aliyev, Théo Clerc)" in body
    assert "> On May 27, **Aliyev** **pardoned** French national **Théo Clerc**." in body
    assert "Entity: Ilham Aliyev" in body
    assert "Macron" not in body  # not listed by this subscription


def test_other_outlets_are_named() -> None:
    body = render_alert(_view(outlets=("APA", "Trend")), SUB, NAMES).body
    assert "Also reported by 2 outlet(s): APA, Trend" in body


def test_control_characters_and_newlines_in_titles_are_removed() -> None:
    message = render_alert(_view(title="Bad\r\nBcc: x@example.org\x00"), SUB, NAMES)
    assert "\r" not in message.title and "\n" not in message.title
    assert message.title.endswith("Bad Bcc: x@example.org")
    assert clean("a\tb\u2028c") == "a b c"
