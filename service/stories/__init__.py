"""Near-duplicate stories: which articles, across outlets, tell the same story.

Pure: text in, values out. For one article::

    parts = article_segments(title, text)        # sentences and lines, fingerprinted
    boilerplate = <the feed's segments seen in its other entries>   (storage)
    sketch = article_sketch(parts, boilerplate)  # shingles + LSH band keys
    candidates = <indexed articles sharing a band, stories in the window>  (storage)
    story = best_story(sketch.shingles, candidates, threshold)   # exact check

``MemoryIndex`` runs the same steps in one process (benchmarks, tests);
``service.storage.stories`` runs them against the shared database.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime

from service.stories.boilerplate import Segment, segments, strip_boilerplate
from service.stories.shingles import Shingles, shingles, shingles_of
from service.stories.signature import Sketch, sketch
from service.stories.similarity import DEFAULT_THRESHOLD, Candidate, Overlap, best_story, overlap


@dataclass(frozen=True, slots=True, eq=False)
class NearDuplicate:
    """What the story claim needs for the near-copy path of one article."""

    parts: tuple[Segment, ...]  # title and text segments
    threshold: float
    since: datetime  # only stories updated since then are candidates


def article_segments(title: str, text: str) -> list[Segment]:
    """The title line and the segments of the text."""
    return segments(f"{title}\n{text}")


def article_sketch(parts: list[Segment], boilerplate: Set[int] = frozenset()) -> Sketch:
    """The sketch of an article once its feed's boilerplate is removed."""
    return sketch(shingles_of(strip_boilerplate(parts, boilerplate)))


__all__ = [
    "DEFAULT_THRESHOLD",
    "Candidate",
    "NearDuplicate",
    "Overlap",
    "Segment",
    "Shingles",
    "Sketch",
    "article_segments",
    "article_sketch",
    "best_story",
    "overlap",
    "shingles",
    "sketch",
]
