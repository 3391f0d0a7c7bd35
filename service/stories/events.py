"""Same event, different articles: TF-IDF vectors of salient terms.

Near copies (``similarity``) share their sentences; two outlets writing their
own articles about one event share names, places and numbers instead. An
article's terms (normalised words of two or more letters, numbers, and
character pairs of unspaced scripts) are weighted by TF-IDF with document
frequencies the index keeps for the window (``DocumentFrequencies``); the
vector keeps its ``VECTOR_TERMS`` heaviest terms and the title's, and its
``SALIENT_TERMS`` heaviest are posted in an inverted index: an indexed article
sharing at least ``MIN_SHARED`` of them is a candidate, and joins when

    score = (1 - TITLE_WEIGHT) * cos(texts) + TITLE_WEIGHT * cos(titles)
            - TIME_PENALTY * log(1 + days apart)

reaches the event threshold (``dedup.event_threshold``). Days apart are those
between the two articles' arrivals (``EventVector.seen``), counted up to
``event_model.DAYS_CAP``: articles about one event arrive within a day or two,
different stories of one topic (a person, a town, a match series) are spread
over weeks; of the training pairs' different stories sharing salient terms,
half arrived more than 9 days apart, of the same stories three quarters within
1.1 days. ``TIME_PENALTY`` and the threshold were fitted on SemEval 2022 task
8's training pairs by benchmarks/fit_event_model.py. On either path the
texts must be at least ``MIN_TEXT_COSINE`` alike (``same_event``). With sentence
embeddings (``dedup.event_embeddings``, ``service.stories.embedding``) a
candidate joins instead when the probability of ``event_model`` (the
embeddings' cosine, the text's TF-IDF cosine and the days apart) reaches
``dedup.event_probability``; candidates are then also the articles sharing a
band key of the embedding (``embedding_keys``): a rewrite in other words.
Until the window holds
``MIN_DOCUMENTS`` articles the frequencies say too little (every word looks
rare), so the event path waits and only copies are joined.
All of it is numpy over arrays of term hashes (the words' hashes of the
shingles, ``shingles.word_hashes``), the same in every process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from service.stories.embedding import Embedding
from service.stories.embedding_keys import embedding_keys
from service.stories.event_model import (
    DAYS_CAP,
    TIME_PENALTY,
    event_probability,
)
from service.stories.shingles import fmix64, word_hashes

TITLE_WEIGHT = 0.2
VECTOR_TERMS = 200
TITLE_TERMS = 24
SALIENT_TERMS = 32
MIN_SHARED = 2
MIN_DOCUMENTS = 50
# below every same-event pair of SemEval's training split on either path (lexical:
# lowest 0.185), so free there
MIN_TEXT_COSINE = 0.15
# with embeddings: 0.10 of the training split's same-story pairs have texts less alike
# than 0.15; at 0.10 the fitted model found 0.865 of them (0.836 at 0.15) at precision
# 0.95 out of fold, and random token salads (which e5 finds alike) still stay below
MIN_EMBEDDING_TEXT_COSINE = 0.10
DOCUMENTS = 0  # the term hash under which the number of documents is counted
DAY = 86400.0


_PAIR = np.uint64(0x9E3779B97F4A7C15)
Hashes = npt.NDArray[np.int64]


def term_hashes(word_list: list[str]) -> Hashes:
    """Signed 64-bit hashes of the terms among ``word_list``, in order.

    Terms: words of two or more characters, one-digit numbers, and pairs of
    adjacent characters of unspaced scripts (whose words are single
    characters). Never ``DOCUMENTS``; the same in every process.
    """
    if not word_list:
        return np.zeros(0, dtype=np.int64)
    lengths, first, hashes = word_hashes(word_list)
    single = lengths == 1
    unspaced = single & (first >= 0x3040) & (first <= 0x9FFF)
    digit = single & (first >= 0x30) & (first <= 0x39)
    pairs = fmix64(hashes[:-1] * _PAIR + hashes[1:])[unspaced[:-1] & unspaced[1:]]
    found = np.concatenate((hashes[~single | digit], pairs)).view(np.int64)
    found[found == DOCUMENTS] = 1
    return found


@dataclass(frozen=True, slots=True, eq=False)
class Counted:
    """Distinct term hashes (sorted) and how often each occurs."""

    terms: Hashes
    counts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, hashes: Hashes) -> Counted:
        terms, counts = np.unique(hashes, return_counts=True)
        return cls(terms, counts)


@dataclass(frozen=True, slots=True, eq=False)
class Terms:
    """The counted terms of an article's title and of its whole text (title included)."""

    title: Counted
    text: Counted

    @property
    def distinct(self) -> list[int]:
        """Every distinct term (the title's are in the text's)."""
        result: list[int] = self.text.terms.tolist()
        return result


def article_terms(title_words: list[str], text_words: list[str]) -> Terms:
    title = term_hashes(title_words)
    return Terms(Counted.of(title), Counted.of(np.concatenate((title, term_hashes(text_words)))))


@dataclass(frozen=True, slots=True, eq=False)
class Weighted:
    """A unit vector: sorted term hashes and their weights."""

    terms: Hashes
    weights: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.terms)


@dataclass(frozen=True, slots=True, eq=False)
class EventVector:
    """Unit TF-IDF vectors of an article's text and title, its embedding if any, and
    when it arrived (POSIX seconds; None: unknown, taken as the same time)."""

    text: Weighted
    title: Weighted
    embedding: Embedding | None = None
    seen: float | None = None

    @property
    def salient(self) -> list[int]:
        """The heaviest terms of the text (sorted): the keys of the inverted index."""
        if len(self.text) <= SALIENT_TERMS:
            return list(self.text.terms.tolist())
        top = np.argpartition(-self.text.weights, SALIENT_TERMS - 1)[:SALIENT_TERMS]
        return sorted(self.text.terms[top].tolist())

    @property
    def bands(self) -> list[int]:
        """The embedding's band keys (``embedding_keys``), if it has one: posted in the
        same inverted index, one shared band making a candidate as ``MIN_SHARED``
        salient terms do."""
        if self.embedding is None:
            return []
        return sorted(embedding_keys(self.embedding).tolist())


def candidate_hits(a: EventVector, b: EventVector) -> int:
    """How strongly the index pairs the two: shared salient terms, a shared embedding band
    counting ``MIN_SHARED`` (a candidate from ``MIN_SHARED`` on)."""
    terms = len(set(a.salient) & set(b.salient))
    return terms + MIN_SHARED * len(set(a.bands) & set(b.bands))


def _unit(counted: Counted, frequencies: npt.NDArray[np.int64], documents: int,
          keep: int) -> Weighted:
    weights = (1 + np.log(counted.counts)) * np.log((documents + 1) / (frequencies + 1))
    terms = counted.terms
    if len(terms) > keep:
        top = np.sort(np.argpartition(-weights, keep - 1)[:keep])
        terms, weights = terms[top], weights[top]
    positive = weights > 0
    terms, weights = terms[positive], weights[positive]
    norm = float(np.sqrt(np.dot(weights, weights)))
    return Weighted(terms, weights / norm if norm > 0 else weights)


def event_vector(terms: Terms, frequencies: Mapping[int, int],
                 embedding: Embedding | None = None, seen: float | None = None) -> EventVector:
    """The article's vectors given document frequencies (``DOCUMENTS`` -> their count)
    and its arrival time (POSIX seconds)."""
    documents = max(frequencies.get(DOCUMENTS, 0), 1)
    text = terms.text.terms.tolist()
    known = np.fromiter(map(frequencies.get, text, repeat(0)), dtype=np.int64, count=len(text))
    in_title = np.searchsorted(terms.text.terms, terms.title.terms)
    return EventVector(
        _unit(terms.text, known, documents, VECTOR_TERMS),
        _unit(terms.title, known[in_title], documents, TITLE_TERMS),
        embedding,
        seen,
    )


def _cosine(a: Weighted, b: Weighted) -> float:
    if not len(a) or not len(b):
        return 0.0
    _, left, right = np.intersect1d(a.terms, b.terms, assume_unique=True, return_indices=True)
    return float(np.dot(a.weights[left], b.weights[right]))


def text_cosine(a: EventVector, b: EventVector) -> float:
    return _cosine(a.text, b.text)


def days_apart(a: EventVector, b: EventVector) -> float:
    """Days between the two arrivals, at most ``DAYS_CAP`` (0 when a time is unknown)."""
    if a.seen is None or b.seen is None:
        return 0.0
    return min(abs(a.seen - b.seen) / DAY, DAYS_CAP)


def event_score(a: EventVector, b: EventVector) -> float:
    """The lexical score: titles and texts alike, less the penalty for days apart."""
    return lexical_score(_cosine(a.text, b.text), _cosine(a.title, b.title), days_apart(a, b))


def lexical_score(text: float, title: float, days: float) -> float:
    return ((1 - TITLE_WEIGHT) * text + TITLE_WEIGHT * title
            - TIME_PENALTY * math.log1p(min(days, DAYS_CAP)))


@dataclass(frozen=True, slots=True)
class EventRule:
    """When two articles tell the same event: the lexical score's threshold, and the
    model's probability when both carry an embedding."""

    threshold: float
    probability: float


def same_event(a: EventVector, b: EventVector, rule: EventRule) -> float | None:
    """How alike the two are (to rank candidates), or None when not the same event.

    Whatever decides, the texts must be ``MIN_TEXT_COSINE`` alike (the model:
    ``MIN_EMBEDDING_TEXT_COSINE``): a headline alone never carries a pair, nor does
    the encoder alone (it finds texts of random tokens alike: with the encoder
    before, 422 of 500 synthetic entries of random tokens merged without a floor).
    """
    text = text_cosine(a, b)
    days = days_apart(a, b)
    if comparable(a.embedding, b.embedding):
        assert a.embedding is not None and b.embedding is not None
        if text < MIN_EMBEDDING_TEXT_COSINE:
            return None
        found = event_probability(float(np.dot(a.embedding, b.embedding)), text, days)
        return found if found >= rule.probability else None
    if text < MIN_TEXT_COSINE:
        return None
    score = lexical_score(text, _cosine(a.title, b.title), days)
    return score if score >= rule.threshold else None


def comparable(a: Embedding | None, b: Embedding | None) -> bool:
    """Both articles carry an embedding of one encoder (rows stored before the encoder
    changed carry another's, of another size: the lexical score judges those)."""
    return a is not None and b is not None and a.shape == b.shape


def encode(vector: EventVector) -> bytes:
    """Stored form: a head (the number of text terms; the embedding's size << 32), the
    int64 term hashes, their float32 weights, then the float32 embedding if any."""
    dimensions = 0 if vector.embedding is None else len(vector.embedding)
    head = np.array([len(vector.text) | dimensions << 32], dtype="<i8")
    terms = np.concatenate((vector.text.terms, vector.title.terms)).astype("<i8")
    weights = np.concatenate((vector.text.weights, vector.title.weights)).astype("<f4")
    embedding = b"" if vector.embedding is None else vector.embedding.astype("<f4").tobytes()
    return head.tobytes() + terms.tobytes() + weights.tobytes() + embedding


def decode(blob: bytes, seen: float | None = None) -> EventVector:
    """The stored vectors; ``seen`` (not stored in the blob) is the article's arrival."""
    head = int(np.frombuffer(blob[:8], dtype="<i8")[0])
    split, dimensions = head & 0xFFFFFFFF, head >> 32
    end = len(blob) - 4 * dimensions
    count = (end - 8) // 12
    terms = np.frombuffer(blob[8 : 8 + 8 * count], dtype="<i8").astype(np.int64)
    weights = np.frombuffer(blob[8 + 8 * count : end], dtype="<f4").astype(np.float64)
    embedding = np.frombuffer(blob[end:], dtype="<f4").astype(np.float32) if dimensions else None
    return EventVector(Weighted(terms[:split], weights[:split]),
                       Weighted(terms[split:], weights[split:]), embedding, seen)
