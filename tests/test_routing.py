"""Routing: which subscriptions a classification satisfies (DESIGN.md semantics)."""

from __future__ import annotations

from service.config.models import SubscriptionConfig
from service.domain import Classification, Match
from service.routing import relevant_matches, route


def _sub(id_: str, **fields: list[str]) -> SubscriptionConfig:
    return SubscriptionConfig.model_validate({"id": id_, "notify": ["console://"], **fields})


def _c(*matches: Match) -> Classification:
    return Classification(matches)


ALIYEV = Match("entity", "ilham-aliyev", "Ilham Aliyev")
CLERC = Match("entity", "theo-clerc", "Théo Clerc")
MACRON = Match("entity", "emmanuel-macron", "Emmanuel Macron")
TOPIC = Match("topic", "azerbaijan-france", "Azerbaijan–France")
PARDON_BY_ALIYEV = Match("event", "pardon", "Pardon", participants=("ilham-aliyev",))
PARDON_BY_MACRON = Match("event", "pardon", "Pardon", participants=("emmanuel-macron",))

SUBS = [
    _sub("desk", topics=["azerbaijan-france"]),
    _sub("pardon-watch", events=["pardon"], entities=["ilham-aliyev", "theo-clerc"]),
    _sub("macron", entities=["emmanuel-macron"]),
    _sub("any-pardon", events=["pardon"]),
    _sub("topic-and-aliyev", topics=["azerbaijan-france"], entities=["ilham-aliyev"]),
]


def test_topic_subscription() -> None:
    assert route(SUBS, _c(TOPIC)) == ["desk"]


def test_event_with_entity_requires_the_entity_to_take_part() -> None:
    assert "pardon-watch" in route(SUBS, _c(ALIYEV, PARDON_BY_ALIYEV))
    # Aliyev is mentioned, but the pardon's participant is Macron: no alert.
    assert "pardon-watch" not in route(SUBS, _c(ALIYEV, MACRON, PARDON_BY_MACRON))


def test_event_alone_matches_any_participant() -> None:
    assert route(SUBS, _c(MACRON, PARDON_BY_MACRON)) == ["macron", "any-pardon"]


def test_every_listed_field_must_match() -> None:
    assert route(SUBS, _c(TOPIC, CLERC)) == ["desk"]
    assert route(SUBS, _c(TOPIC, ALIYEV)) == ["desk", "topic-and-aliyev"]


def test_nothing_matched_routes_nowhere() -> None:
    assert route(SUBS, _c()) == []


def test_relevant_matches_are_the_listed_ids() -> None:
    matches = [TOPIC, ALIYEV, MACRON, PARDON_BY_ALIYEV]
    assert relevant_matches(SUBS[1], matches) == [ALIYEV, PARDON_BY_ALIYEV]
