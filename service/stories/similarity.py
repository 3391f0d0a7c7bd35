"""The exact check after LSH: Jaccard or containment of two shingle sets.

Containment is |A ∩ B| / min(|A|, |B|): a syndicated copy that drops the last
paragraphs and adds a dateline, a headline and its own footer keeps most of
its shingles inside the original, although its Jaccard similarity falls.
Two texts are one story when either measure reaches the threshold; among
several candidate stories the most similar wins (ties: the oldest story).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from service.stories.shingles import Shingles

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class Overlap:
    jaccard: float
    containment: float

    @property
    def score(self) -> float:
        return max(self.jaccard, self.containment)


@dataclass(frozen=True, slots=True, eq=False)
class Candidate:
    """An indexed article proposed by LSH, with the story it belongs to."""

    article_id: int
    story_id: int
    shingles: Shingles


def overlap(a: Shingles, b: Shingles) -> Overlap:
    if len(a) == 0 or len(b) == 0:
        return Overlap(0.0, 0.0)
    common = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - common
    return Overlap(common / union, common / min(len(a), len(b)))


def best_story(
    shingle_hashes: Shingles, candidates: Iterable[Candidate], threshold: float,
    differs: Callable[[int], bool] | None = None,
) -> int | None:
    """The story whose article is most similar, if one reaches ``threshold`` and
    ``differs`` (asked of those articles only) does not call it another story after
    all (``substitution``: a templated brief naming someone else)."""
    passing = []
    for candidate in candidates:
        score = overlap(shingle_hashes, candidate.shingles).score
        if score >= threshold:
            passing.append((-score, candidate.story_id, candidate))
    for _, story_id, candidate in sorted(passing, key=lambda p: (p[0], p[1])):
        if differs is None or not differs(candidate.article_id):
            return story_id
    return None
