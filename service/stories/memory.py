"""The story index in one process's memory: the reference for tests and benchmarks.

It runs the same pure steps as the database index (boilerplate per feed,
sketch, LSH candidates, exact check, then the same-event path: document
frequencies, candidates by salient terms and embedding bands, TF-IDF score) on dicts, so property
tests and the evaluation need no database. The service itself uses the
shared database index (``service.storage.stories``), never this one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from service.stories import (
    DEFAULT_EVENT_PROBABILITY,
    Candidate,
    EventCandidate,
    EventRule,
    EventVector,
    Terms,
    article_parts,
    article_sketch,
    article_terms,
    best_event_story,
    best_story,
    event_vector,
)
from service.stories.embedding import Embedding, embed
from service.stories.events import DOCUMENTS, MIN_DOCUMENTS, MIN_SHARED
from service.stories.reposts import feed_boilerplate, last_line_parts, title_words
from service.stories.signature import Sketch
from service.stories.similarity import DEFAULT_THRESHOLD
from service.stories.substitution import is_short, names_substituted

MAX_CANDIDATES = 20


@dataclass
class MemoryIndex:
    threshold: float = DEFAULT_THRESHOLD
    event_threshold: float | None = None  # None: copies only
    embeddings: bool = False  # the same-event path with sentence embeddings (an extra)
    event_probability: float = DEFAULT_EVENT_PROBABILITY
    _bands: dict[int, int] = field(default_factory=dict)  # band -> first article
    _more: defaultdict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    _sketches: list[Sketch] = field(default_factory=list)
    _stories: list[int] = field(default_factory=list)
    _segments: dict[tuple[str, int], int] = field(default_factory=dict)  # -> first entry
    _titles: dict[int, list[str]] = field(default_factory=dict)  # article -> its title's words
    frequencies: Counter[int] = field(default_factory=Counter)  # term -> documents
    _postings: defaultdict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    vectors: dict[int, EventVector] = field(default_factory=dict)  # article -> its vectors
    _texts: dict[int, str] = field(default_factory=dict)  # article -> its text (briefs)

    def __len__(self) -> int:
        return len(self._sketches)

    def add(self, feed: str, title: str, text: str, seen: float | None = None) -> int:
        """Index one article (``seen``: when it arrived, POSIX seconds; None: unknown);
        return its story (the article number of the first)."""
        parts, title_parts = article_parts(title, text)
        article = len(self._sketches)
        carried = self._learn(feed, article, [p.fingerprint for p in parts])
        self._titles[article] = title_words(parts, title_parts)
        boilerplate = feed_boilerplate(parts, carried, title_parts, last_line_parts(text),
                                       self._titles)
        found = article_sketch(parts, boilerplate, title_parts)
        self._texts[article] = text
        differs = self._brief_differs(text)
        story = best_story(found.shingles, self.candidates(found), self.threshold, differs)
        vector = None
        if self.event_threshold is not None:
            terms = article_terms(parts, boilerplate, title_parts)
            vector = self.vector(terms, embed(title, text) if self.embeddings else None, seen)
            if story is None and vector is not None:
                rule = EventRule(self.event_threshold, self.event_probability)
                story = best_event_story(vector, self.event_candidates(vector), rule, differs)
            self.count(terms)
        self._store(article, found, article if story is None else story, vector)
        return self._stories[article]

    def _brief_differs(self, text: str) -> Callable[[int], bool] | None:
        """For a brief: whether an indexed article is the same template naming someone
        else (``substitution``)."""
        if not is_short(text):
            return None
        return lambda article: names_substituted(text, self._texts[article])

    def count(self, terms: Terms) -> None:
        """One more document in the frequencies."""
        self.frequencies.update(terms.distinct)
        self.frequencies[DOCUMENTS] += 1

    def vector(self, terms: Terms, embedding: Embedding | None = None,
               seen: float | None = None) -> EventVector | None:
        """The article's vectors, once the window holds enough documents."""
        if self.frequencies[DOCUMENTS] < MIN_DOCUMENTS:
            return None
        return event_vector(terms, self.frequencies, embedding, seen)

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

    def event_candidates(self, vector: EventVector) -> list[EventCandidate]:
        hits: Counter[int] = Counter()
        for term in vector.salient:
            hits.update(self._postings.get(term, ()))
        for band in vector.bands:  # a shared band of the embeddings counts as MIN_SHARED terms
            hits.update(dict.fromkeys(self._postings.get(band, ()), MIN_SHARED))
        # only the article that started each story: a story does not drift away from it
        ranked = sorted((a for a, n in hits.items() if n >= MIN_SHARED and self._stories[a] == a),
                        key=lambda a: (-hits[a], a))
        return [EventCandidate(a, self._stories[a], self.vectors[a])
                for a in ranked[:MAX_CANDIDATES]]

    def _learn(self, feed: str, article: int, fingerprints: list[int]) -> dict[int, int]:
        """The segments the feed carried before this article -> the entry that had it first."""
        carried = {}
        for value in fingerprints:
            first = self._segments.setdefault((feed, value), article)
            if first != article:
                carried[value] = first
        return carried

    def _store(self, article: int, found: Sketch, story: int, vector: EventVector | None) -> None:
        self._sketches.append(found)
        self._stories.append(story)
        for band in found.bands:
            if self._bands.setdefault(band, article) != article:
                self._more[band].append(article)
        if vector is not None:
            self.vectors[article] = vector
            for term in (*vector.salient, *vector.bands):
                self._postings[term].append(article)
