"""Near-duplicate stories: which articles, across outlets, tell the same story.

Pure: text in, values out. For one article::

    parts = article_segments(title, text)        # sentences and lines, fingerprinted
    boilerplate = <the feed's segments seen in its other entries>   (storage)
    sketch = article_sketch(parts, boilerplate)  # shingles + LSH band keys
    candidates = <indexed articles sharing a band, stories in the window>  (storage)
    story = best_story(sketch.shingles, candidates, threshold)   # exact check
    # no copy: another article about the same event? (``events``)
    terms = article_terms(parts, boilerplate, title_parts)      # counted term hashes
    vector = event_vector(terms, <document frequencies of the window>, embedding, seen)
    candidates = <indexed articles sharing salient terms>               (storage)
    story = best_event_story(vector, candidates, rule)   # threshold, or the model with embeddings

``MemoryIndex`` runs the same steps in one process (benchmarks, tests);
``service.storage.stories`` runs them against the shared database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from datetime import datetime

from service.stories.boilerplate import Segment, kept_segments, segments, strip_boilerplate
from service.stories.embedding import Embedding
from service.stories.event_model import DEFAULT_EVENT_PROBABILITY, DEFAULT_EVENT_THRESHOLD
from service.stories.events import (
    EventRule,
    EventVector,
    Terms,
    event_vector,
    same_event,
)
from service.stories.events import article_terms as _terms
from service.stories.shingles import Shingles, shingles, shingles_of
from service.stories.signature import Sketch, sketch
from service.stories.similarity import DEFAULT_THRESHOLD, Candidate, Overlap, best_story, overlap


@dataclass(frozen=True, slots=True, eq=False)
class NearDuplicate:
    """What the story claim needs for the near-copy path of one article."""

    parts: tuple[Segment, ...]  # title and text segments
    threshold: float
    since: datetime  # only stories updated since then are candidates
    title_parts: int = 0  # parts[:title_parts] are the title's
    tail_parts: int = 0  # parts[-tail_parts:] are the text's last line (of several)
    event_threshold: float | None = None  # None: copies only, no same-event path
    event_probability: float = DEFAULT_EVENT_PROBABILITY  # with embeddings
    embedding: Embedding | None = None  # None: the same-event path is lexical
    seen: datetime | None = None  # when the article arrived (days apart: the same event?)
    text: str = ""  # the text as it came (a brief's names: ``substitution``)
    language: str | None = None  # the text's, as detected (None: unknown)

    @property
    def event_rule(self) -> EventRule | None:
        if self.event_threshold is None:
            return None
        return EventRule(self.event_threshold, self.event_probability)


@dataclass(frozen=True, slots=True, eq=False)
class EventCandidate:
    """An indexed article sharing salient terms, with its story and vectors."""

    article_id: int
    story_id: int
    vector: EventVector


def article_segments(title: str, text: str) -> list[Segment]:
    """The title line and the segments of the text."""
    return segments(f"{title}\n{text}")


def article_parts(title: str, text: str) -> tuple[list[Segment], int]:
    """The segments of the title then of the text, and how many are the title's."""
    heading = segments(title)
    return heading + segments(text), len(heading)


def article_sketch(
    parts: list[Segment], boilerplate: Set[int] = frozenset(), title_parts: int = 0
) -> Sketch:
    """The sketch of an article once its feed's boilerplate is removed."""
    return sketch(shingles_of(strip_boilerplate(parts, boilerplate, title_parts)))


def article_terms(
    parts: list[Segment], boilerplate: Set[int] = frozenset(), title_parts: int = 0
) -> Terms:
    """The counted terms of the title and of the text without boilerplate.

    Unlike the sketch, a text that is all boilerplate (a templated entry)
    counts no terms: only its title speaks for it.
    """
    heading = parts[:title_parts]
    kept = kept_segments(parts, boilerplate, title_parts)
    body = kept[title_parts:] if kept is parts else [s for s in kept if s not in heading]
    title = [word for segment in heading for word in segment.words]
    return _terms(title, [word for segment in body for word in segment.words])


def best_event_story(
    vector: EventVector, candidates: Iterable[EventCandidate], rule: EventRule,
    differs: Callable[[int], bool] | None = None,
) -> int | None:
    """The story of the most similar candidate that ``rule`` calls the same event and
    ``differs`` (asked of those articles only) does not call another story."""
    passing = []
    for candidate in candidates:
        score = same_event(vector, candidate.vector, rule)
        if score is not None:
            passing.append((-score, candidate.story_id, candidate.article_id))
    for _, story_id, article_id in sorted(passing):
        if differs is None or not differs(article_id):
            return story_id
    return None


__all__ = [
    "DEFAULT_EVENT_PROBABILITY",
    "DEFAULT_EVENT_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "Candidate",
    "EventCandidate",
    "EventRule",
    "EventVector",
    "NearDuplicate",
    "Overlap",
    "Segment",
    "Shingles",
    "Sketch",
    "Terms",
    "article_parts",
    "article_segments",
    "article_sketch",
    "article_terms",
    "best_event_story",
    "best_story",
    "event_vector",
    "overlap",
    "shingles",
    "sketch",
]
