"""The story index in one process's memory: the reference for tests and benchmarks.

It runs the same pure steps as the database index (boilerplate per feed,
sketch, LSH candidates, exact check) on dicts, so property tests and the
evaluation need no database. The service itself uses the shared database
index (``service.storage.stories``), never this one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from service.stories import Candidate, article_segments, article_sketch, best_story
from service.stories.signature import Sketch
from service.stories.similarity import DEFAULT_THRESHOLD

MAX_CANDIDATES = 20


@dataclass
class MemoryIndex:
    threshold: float = DEFAULT_THRESHOLD
    _bands: dict[int, int] = field(default_factory=dict)  # band -> first article
    _more: defaultdict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    _sketches: list[Sketch] = field(default_factory=list)
    _stories: list[int] = field(default_factory=list)
    _segments: dict[tuple[str, int], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._sketches)

    def add(self, feed: str, title: str, text: str) -> int:
        """Index one article; return its story (the article number of the first)."""
        parts = article_segments(title, text)
        article = len(self._sketches)
        boilerplate = self._learn(feed, article, [p.fingerprint for p in parts])
        found = article_sketch(parts, boilerplate)
        story = best_story(found.shingles, self.candidates(found), self.threshold)
        self._store(article, found, article if story is None else story)
        return self._stories[article]

    def candidates(self, found: Sketch) -> list[Candidate]:
        hits: Counter[int] = Counter()
        for band in found.bands:
            first = self._bands.get(band)
            if first is not None:
                hits[first] += 1
                hits.update(self._more.get(band, ()))
        return [
            Candidate(a, self._stories[a], self._sketches[a].shingles)
            for a, _ in hits.most_common(MAX_CANDIDATES)
        ]

    def _learn(self, feed: str, article: int, fingerprints: list[int]) -> set[int]:
        seen = set()
        for value in fingerprints:
            first = self._segments.setdefault((feed, value), article)
            if first != article:
                seen.add(value)
        return seen

    def _store(self, article: int, found: Sketch, story: int) -> None:
        self._sketches.append(found)
        self._stories.append(story)
        for band in found.bands:
            if self._bands.setdefault(band, article) != article:
                self._more[band].append(article)
