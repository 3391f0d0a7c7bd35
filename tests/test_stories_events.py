"""Same event, other articles; re-posts; index pruning: the shared index on both backends.

The same-event path needs document frequencies, so each test first indexes
``MIN_DOCUMENTS`` background articles (common words, and words of their own)
from other outlets.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service.config.models import DedupSettings
from service.storage import Database, event_index
from service.storage import stories as story_index
from service.storage.articles import ProcessedOutcome
from service.storage.event_index import prune_if_due
from service.storage.models import (
    ArticleSketchRow,
    StoryBandRow,
    StoryKeyRow,
    StoryRow,
    StoryTermRow,
    TermFrequencyRow,
)
from service.stories import DEFAULT_EVENT_PROBABILITY, DEFAULT_EVENT_THRESHOLD, EventRule
from service.stories.events import (
    DAY,
    MIN_DOCUMENTS,
    EventVector,
    event_score,
    same_event,
)
from service.stories.memory import MemoryIndex
from tests.story_texts import VOCABULARY, sentences
from tests.test_stories_store import NOW
from tests.test_stories_store import _story as _stored

EVENTS_ON = DedupSettings(same_event=True)  # the same-event path is opt-in


def _story(database: Database, *args: str, settings: DedupSettings = EVENTS_ON,
           **kwargs: Any) -> ProcessedOutcome:
    return _stored(database, *args, settings=settings, **kwargs)

COMMON = VOCABULARY[1000:1040]  # words every article uses
EVENT = VOCABULARY[2000:2006]  # names, places, numbers of one event
OTHER_EVENT = VOCABULARY[2100:2106]
FOOTER = sentences(VOCABULARY[400:430])


def _words(seed: int, own: list[str], names: list[str]) -> str:
    """Common words, the article's own words, and ``names`` three times, shuffled."""
    rng = random.Random(seed)
    drawn = rng.sample(COMMON, 20) + own + names * 3
    rng.shuffle(drawn)
    return sentences(drawn)


def _background(database: Database) -> None:
    for n in range(MIN_DOCUMENTS):
        own = VOCABULARY[3000 + 20 * n : 3000 + 20 * n + 20]
        _story(database, f"bg{n % 5}", f"bg{n}", sentences(own[:5]), _words(n, own, []))


def _article(seed: int, names: list[str]) -> tuple[str, str]:
    own = VOCABULARY[5000 + 40 * seed : 5000 + 40 * seed + 30]
    return sentences([*names[:3], *own[:4]]), _words(seed, own[4:], names)


def test_another_outlets_own_article_about_the_event_joins_and_alerts_once(
    database: Database,
) -> None:
    _background(database)
    first = _story(database, "outlet", "a1", *_article(1, EVENT))
    other = _story(database, "wire", "w1", *_article(2, EVENT))
    unrelated = _story(database, "paper", "p1", *_article(3, OTHER_EVENT))
    assert (other.story_id, other.duplicate, other.alerts_created) == (first.story_id, True, 0)
    assert unrelated.story_id != first.story_id and unrelated.alerts_created == 1
    assert _count(database, StoryTermRow) > 0


def test_the_same_event_path_can_be_turned_off(database: Database) -> None:
    _background(database)
    settings = DedupSettings(same_event=False)
    first = _story(database, "outlet", "a1", *_article(1, EVENT), settings=settings)
    other = _story(database, "wire", "w1", *_article(2, EVENT), settings=settings)
    assert other.story_id != first.story_id


def test_a_story_is_judged_by_its_first_article_and_does_not_drift() -> None:
    index = MemoryIndex(event_threshold=0.2)
    for n in range(MIN_DOCUMENTS):
        own = VOCABULARY[3000 + 20 * n : 3000 + 20 * n + 20]
        index.add(f"bg{n % 5}", sentences(own[:5]), _words(n, own, []))
    first = index.add("outlet", *_article(1, EVENT))
    bridge = index.add("wire", *_article(2, EVENT[:4] + OTHER_EVENT))
    assert bridge == first  # some of its names: the same event
    # shares only the bridge's other names: another event, though close to the bridge
    assert index.add("paper", *_article(3, OTHER_EVENT)) != first


def test_same_outlet_reposting_under_a_new_url_and_title_joins_the_story(
    database: Database,
) -> None:
    body = sentences(VOCABULARY[10:160])
    first = _story(database, "outlet", "https://outlet.example/a", "Original headline",
                   f"{body}\n{FOOTER}")
    _story(database, "outlet", "https://outlet.example/b", "Something else",
           f"{sentences(VOCABULARY[200:240])}\n{FOOTER}")
    repost = _story(database, "outlet", "https://outlet.example/c?utm=x", "A brand new headline",
                    f"{body}\n{FOOTER}")
    assert (repost.story_id, repost.duplicate, repost.alerts_created) == (
        first.story_id, True, 0)


def test_same_outlet_reposting_with_a_new_lead_and_an_update_title_joins_the_story(
    database: Database,
) -> None:
    """Reuters-style: new GUID and URL, "UPDATE 1-" before the title, a dateline
    and a new lead sentence; the rest (and the outlet's footer) carried before."""
    body = sentences(VOCABULARY[10:160])
    first = _story(database, "outlet", "https://outlet.example/a", "Original headline here",
                   f"{body}\n{FOOTER}")
    _story(database, "outlet", "https://outlet.example/b", "Something else",
           f"{sentences(VOCABULARY[200:240])}\n{FOOTER}")
    lead = sentences(VOCABULARY[700:720])
    repost = _story(database, "outlet", "https://outlet.example/c",
                    "UPDATE 1-Original headline here",
                    f"LONDON (Reuters) — {lead} {body}\n{FOOTER}")
    again = _story(database, "outlet", "https://outlet.example/d",
                   "Original headline here (copy)",
                   f"{lead} {body}\n{sentences(VOCABULARY[800:815])}\n{FOOTER}")
    assert (repost.story_id, repost.duplicate, repost.alerts_created) == (first.story_id, True, 0)
    assert (again.story_id, again.duplicate, again.alerts_created) == (first.story_id, True, 0)


def test_same_outlet_stories_under_one_title_sharing_only_a_footer_stay_apart(
    database: Database,
) -> None:
    """Under one title, a footer on its own line and longer than the texts is
    still not what a re-post shares."""
    footer = sentences(VOCABULARY[400:460])
    texts = [sentences(VOCABULARY[10:40]), sentences(VOCABULARY[200:230]),
             sentences(VOCABULARY[700:730]), sentences(VOCABULARY[800:830])]
    found = [_story(database, "outlet", f"https://outlet.example/{n}", "Market talk",
                    f"{text}\n{footer}") for n, text in enumerate(texts)]
    assert [f.alerts_created for f in found] == [1, 1, 1, 1]
    assert len({f.story_id for f in found}) == 4


def test_headlines_alike_over_unrelated_texts_stay_apart() -> None:
    index = MemoryIndex(event_threshold=0.2)
    for n in range(MIN_DOCUMENTS):
        own = VOCABULARY[3000 + 20 * n : 3000 + 20 * n + 20]
        index.add(f"bg{n % 5}", sentences(own[:5]), _words(n, own, []))
    headline = sentences(EVENT[:4])  # rare words, the same in both titles
    first = index.add("outlet", headline, _words(1, VOCABULARY[5000:5030], []))
    other = index.add("wire", headline, _words(2, VOCABULARY[5100:5130], []))
    assert other != first


def test_short_templated_entries_of_one_feed_stay_apart() -> None:
    index = MemoryIndex(event_threshold=0.2)
    stories = [index.add("hn", sentences(VOCABULARY[600 + 6 * n : 606 + 6 * n]),
                         f"Article URL: https://x.example/{n}\nPoints: {n}\n# Comments: {n}")
               for n in range(MIN_DOCUMENTS + 5)]
    assert len(set(stories)) == len(stories)


def _count(database: Database, table: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_index_rows_older_than_the_window_are_pruned_on_insert(
    database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = DedupSettings(window=timedelta(days=2), same_event=True)
    old = _story(database, "outlet", "old", "Old news", sentences(VOCABULARY[10:60]),
                 settings=settings)
    with database.session() as session, session.begin():
        session.add(StoryKeyRow(key="0" * 64, story_id=old.story_id))
    assert _count(database, StoryBandRow) > 0 and _count(database, TermFrequencyRow) > 0
    monkeypatch.setattr(story_index, "PRUNE_INTERVAL", timedelta(0))  # after this very batch
    later: datetime = NOW + timedelta(days=3)
    new = _story(database, "outlet", "new", "New news", sentences(VOCABULARY[300:350]),
                 now=later, settings=settings)
    with database.session() as session:
        sketched = set(session.scalars(select(ArticleSketchRow.created_at)))
        banded = set(session.scalars(select(StoryBandRow.article_id)))
        days = set(session.scalars(select(TermFrequencyRow.day)))
        keys = set(session.scalars(select(StoryKeyRow.story_id)))
        first = dict(session.execute(select(StoryRow.id, StoryRow.first_article_id)).all())
    assert sketched == {later} and banded == {first[new.story_id]}
    assert days == {(later.date() - datetime(1970, 1, 1).date()).days}
    assert old.story_id not in keys  # past the window nothing joins the old story
    assert _count(database, StoryTermRow) == 0  # (too few documents for salient terms)


def test_the_index_is_pruned_once_an_interval_per_process_outside_the_batch(
    database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pruning scans tables: after every batch, and under its claim locks, it held up
    every other worker's batch; now at most once a PRUNE_INTERVAL, on its own."""
    monkeypatch.setattr(event_index, "_pruned_at", {})  # this process has not pruned yet
    monkeypatch.setattr(story_index, "PRUNE_INTERVAL", timedelta(days=1))
    settings = DedupSettings(window=timedelta(days=2), same_event=True)
    _story(database, "outlet", "old", "Old news", sentences(VOCABULARY[10:60]),
           settings=settings)  # the process's first batch: pruned (nothing old yet)
    later: datetime = NOW + timedelta(days=3)
    _story(database, "outlet", "new", "New news", sentences(VOCABULARY[300:350]),
           now=later, settings=settings)  # within the interval: the old rows stay
    assert _count(database, ArticleSketchRow) == 2
    assert prune_if_due(database, later - settings.window) is None  # still within it
    monkeypatch.setattr(story_index, "PRUNE_INTERVAL", timedelta(0))
    assert prune_if_due(database, None) is None  # a batch without near copies
    assert prune_if_due(database, later - settings.window) == 1  # the old article left
    assert _count(database, ArticleSketchRow) == 1


def _pair_index() -> tuple[MemoryIndex, EventVector, EventVector]:
    """The background, then two outlets' own articles about one event (their vectors)."""
    index = MemoryIndex(event_threshold=DEFAULT_EVENT_THRESHOLD)
    for n in range(MIN_DOCUMENTS):
        own = VOCABULARY[3000 + 20 * n : 3000 + 20 * n + 20]
        index.add(f"bg{n % 5}", sentences(own[:5]), _words(n, own, []))
    first = len(index)
    index.add("outlet", *_article(1, EVENT))
    index.add("wire", *_article(2, EVENT[:3] + OTHER_EVENT[:3]))
    return index, index.vectors[first], index.vectors[first + 1]


def test_articles_arriving_days_apart_need_more_in_common() -> None:
    _, a, b = _pair_index()
    at = [event_score(replace(a, seen=0.0), replace(b, seen=days * DAY)) for days in (0, 1, 3, 7)]
    assert at[0] == event_score(a, b)  # arrival unknown: as if together
    assert at[0] > at[1] > at[2] > at[3] == event_score(
        replace(a, seen=0.0), replace(b, seen=30 * DAY))  # counted up to DAYS_CAP
    rule = EventRule((at[0] + at[2]) / 2, DEFAULT_EVENT_PROBABILITY)
    assert same_event(replace(a, seen=0.0), replace(b, seen=DAY / 24), rule) is not None
    assert same_event(replace(a, seen=0.0), replace(b, seen=3 * DAY), rule) is None
    assert same_event(replace(a, seen=3 * DAY), replace(b, seen=0.0), rule) is None


@pytest.mark.parametrize(("later", "joins"), [(timedelta(hours=1), True),
                                              (timedelta(days=6), False)])
def test_the_service_counts_days_apart_from_the_articles_arrivals(
    database: Database, later: timedelta, joins: bool,
) -> None:
    _, a, b = _pair_index()  # the same articles in memory: a threshold halfway between
    together = event_score(a, b)  # their score when they arrive together and 6 days apart
    apart = event_score(replace(a, seen=0.0), replace(b, seen=6 * DAY))
    settings = DedupSettings(same_event=True, event_threshold=(together + apart) / 2)
    _background(database)
    first = _story(database, "outlet", "a1", *_article(1, EVENT), settings=settings)
    other = _story(database, "wire", "w1", *_article(2, EVENT[:3] + OTHER_EVENT[:3]),
                   now=NOW + later, settings=settings)
    assert (other.story_id == first.story_id) == joins
