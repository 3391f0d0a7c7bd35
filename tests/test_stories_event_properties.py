"""Property tests of the same-event path, on the in-memory index.

Copies join whatever the order (tests/test_stories_properties.py). The
same-event path is order-dependent by design: a story is judged by its first
article only (so it cannot drift), and which article comes first is the order
of arrival. What holds in every order, and is tested here:

1. Events told apart by their names (each article close to every article of
   its own event, far from the others') give the same clusters in any order.
2. With bridging articles (names of two events), every story is a star: each
   later member is the same event as the story's *first* article by the
   product's own decision, and two events share a story only when a bridge
   started it.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from service.stories import (
    DEFAULT_EVENT_PROBABILITY,
    DEFAULT_EVENT_THRESHOLD,
    EventCandidate,
    EventRule,
    best_event_story,
)
from service.stories.events import MIN_DOCUMENTS
from service.stories.memory import MemoryIndex
from tests.story_texts import VOCABULARY, partition, sentences

PROPERTY = settings(max_examples=40, deadline=None)
COMMON = VOCABULARY[1000:1040]  # words every article uses
EVENTS = [VOCABULARY[2000 + 10 * k : 2006 + 10 * k] for k in range(6)]  # names of events


def _background() -> MemoryIndex:
    """An index whose window holds enough documents for the same-event path."""
    index = MemoryIndex(event_threshold=DEFAULT_EVENT_THRESHOLD)
    for n in range(MIN_DOCUMENTS):
        own = VOCABULARY[3000 + 20 * n : 3020 + 20 * n]
        drawn = random.Random(n).sample(COMMON, 20) + own
        index.add(f"bg{n % 5}", sentences(own[:5]), sentences(drawn))
    return index


def _article(number: int, names: list[str]) -> tuple[str, str]:
    """An outlet's own article: common words, words of its own, the event's names."""
    rng = random.Random(number)
    own = VOCABULARY[5000 + 20 * number : 5020 + 20 * number]
    drawn = rng.sample(COMMON, 20) + own[4:] + names * 3
    rng.shuffle(drawn)
    return sentences([*names[:3], *own[:4]]), sentences(drawn)


@st.composite
def separated(draw: st.DrawFn) -> tuple[list[list[str]], list[int]]:
    """Names of each article of 2-4 events (2-4 articles each), arrival order; labels."""
    sizes = draw(st.lists(st.integers(2, 4), min_size=2, max_size=4))
    labels = [event for event, size in enumerate(sizes) for _ in range(size)]
    order = draw(st.permutations(range(len(labels))))
    return [EVENTS[labels[i]] for i in order], [labels[i] for i in order]


@PROPERTY
@given(separated())
def test_events_told_apart_by_their_names_cluster_alike_in_any_order(
    case: tuple[list[list[str]], list[int]],
) -> None:
    names, labels = case
    index = _background()
    found = [index.add(f"outlet{n}", *_article(n, article)) for n, article in enumerate(names)]
    assert partition(found) == partition(labels)


@st.composite
def bridged(draw: st.DrawFn) -> list[tuple[str, list[str]]]:
    """Articles of two events and 1-2 bridges naming both, in any order: (kind, names)."""
    one, two = EVENTS[0], EVENTS[1]
    kinds = (["one"] * draw(st.integers(1, 3)) + ["two"] * draw(st.integers(1, 3))
             + ["bridge"] * draw(st.integers(1, 2)))
    names = {"one": one, "two": two, "bridge": one[:3] + two[:3]}
    order = draw(st.permutations(kinds))
    return [(kind, names[kind]) for kind in order]


@PROPERTY
@given(bridged())
def test_in_any_order_each_story_is_a_star_around_its_first_article(
    articles: list[tuple[str, list[str]]],
) -> None:
    index = _background()
    offset = len(index)
    found = [index.add(f"outlet{n}", *_article(n, names))
             for n, (_, names) in enumerate(articles)]
    for position, story in enumerate(found):
        article = offset + position
        if story != article:  # joined: the same event as the story's first article
            first = EventCandidate(story, story, index.vectors[story])
            rule = EventRule(DEFAULT_EVENT_THRESHOLD, DEFAULT_EVENT_PROBABILITY)
            assert best_event_story(index.vectors[article], [first], rule) == story
    for story in set(found):
        kinds = {articles[p][0] for p, s in enumerate(found) if s == story}
        if {"one", "two"} <= kinds:  # two events in one story: a bridge started it
            assert articles[story - offset][0] == "bridge"
