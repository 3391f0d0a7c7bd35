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

reaches the event threshold (``dedup.event_threshold``, tuned on SemEval 2022
task 8's training pairs by benchmarks/bench_dedup.py). Until the window holds
``MIN_DOCUMENTS`` articles the frequencies say too little (every word looks
rare), so the event path waits and only copies are joined.
Term hashes are xxh3, the same in every process.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from xxhash import xxh3_64_intdigest

DEFAULT_EVENT_THRESHOLD = 0.2
TITLE_WEIGHT = 0.2
VECTOR_TERMS = 200
TITLE_TERMS = 24
SALIENT_TERMS = 32
MIN_SHARED = 2
MIN_DOCUMENTS = 50
DOCUMENTS = 0  # the term hash under which the number of documents is counted
_SIGNED = 1 << 63


def _unspaced(word: str) -> bool:
    return len(word) == 1 and "\u3040" <= word <= "\u9fff"


def terms_of(word_list: Sequence[str]) -> list[str]:
    """Words of two or more characters, numbers, and pairs of unspaced characters."""
    found: list[str] = []
    previous = ""
    for word in word_list:
        if _unspaced(word):
            if previous:
                found.append(previous + word)
            previous = word
            continue
        previous = ""
        if len(word) >= 2 or word.isdigit():
            found.append(word)
    return found


def term_hash(term: str) -> int:
    """A signed 64-bit hash (never ``DOCUMENTS``), so the database can index it."""
    return (xxh3_64_intdigest(term.encode()) - _SIGNED) or 1


@dataclass(frozen=True, slots=True, eq=False)
class Terms:
    """The counted term hashes of an article's title and text."""

    title: Counter[int]
    text: Counter[int]

    @property
    def distinct(self) -> list[int]:
        return sorted(self.text.keys() | self.title.keys())


def article_terms(title_words: Sequence[str], text_words: Sequence[str]) -> Terms:
    title = Counter(map(term_hash, terms_of(title_words)))
    return Terms(title, Counter(map(term_hash, terms_of(text_words))) + title)


@dataclass(frozen=True, slots=True, eq=False)
class EventVector:
    """Unit TF-IDF vectors (term hash -> weight) of an article's text and title."""

    text: Mapping[int, float]
    title: Mapping[int, float]

    @property
    def salient(self) -> list[int]:
        """The heaviest terms of the text: the keys of the inverted index."""
        return sorted(sorted(self.text, key=self.text.__getitem__, reverse=True)[:SALIENT_TERMS])


def idf(documents: int, frequency: int) -> float:
    return math.log((documents + 1) / (frequency + 1))


def _unit(counts: Counter[int], frequencies: Mapping[int, int], documents: int,
          keep: int) -> dict[int, float]:
    weights = {
        term: (1 + math.log(count)) * idf(documents, frequencies.get(term, 0))
        for term, count in counts.items()
    }
    top = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:keep]
    norm = math.sqrt(sum(w * w for _, w in top))
    return {term: w / norm for term, w in top if w > 0} if norm > 0 else {}


def event_vector(terms: Terms, frequencies: Mapping[int, int]) -> EventVector:
    """The article's vectors given document frequencies (``DOCUMENTS`` -> their count)."""
    documents = max(frequencies.get(DOCUMENTS, 0), 1)
    return EventVector(
        _unit(terms.text, frequencies, documents, VECTOR_TERMS),
        _unit(terms.title, frequencies, documents, TITLE_TERMS),
    )


def _cosine(a: Mapping[int, float], b: Mapping[int, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(term, 0.0) for term, w in a.items())


def event_score(a: EventVector, b: EventVector) -> float:
    return (1 - TITLE_WEIGHT) * _cosine(a.text, b.text) + TITLE_WEIGHT * _cosine(a.title, b.title)


def encode(vector: EventVector) -> bytes:
    """Stored form: count of text terms, then int64 hashes and float32 weights."""
    terms = [*vector.text, *vector.title]
    weights = [*vector.text.values(), *vector.title.values()]
    head = np.array([len(vector.text)], dtype="<i8")
    return (head.tobytes() + np.array(terms, dtype="<i8").tobytes()
            + np.array(weights, dtype="<f4").tobytes())


def decode(blob: bytes) -> EventVector:
    split = int(np.frombuffer(blob[:8], dtype="<i8")[0])
    count = (len(blob) - 8) // 12
    terms: npt.NDArray[np.int64] = np.frombuffer(blob[8 : 8 + 8 * count], dtype="<i8")
    weights = np.frombuffer(blob[8 + 8 * count :], dtype="<f4").astype(float)
    pairs = list(zip(terms.tolist(), weights.tolist(), strict=True))
    return EventVector(dict(pairs[:split]), dict(pairs[split:]))
