"""The language of an article, detected offline and stored with it.

Analysts filter and read alerts by language, and the backtest shows it. The
detector is py3langid (a maintained fork of langid.py): its model ships
inside the package, so nothing is downloaded at run time, and it classifies a
3 KB article in well under a millisecond. Short texts are unreliable, so a
guess is only returned when the text has enough letters and the detector's
normalised probability is high enough; otherwise the language is unknown
(None), never a wild guess.

py3langid counts the model's byte n-gram features by walking its automaton
(a DFA) one byte at a time in Python: most of its cost. ``FastIdentifier``
keeps py3langid's model, encoding and scoring and counts the same features
with numpy instead. The DFA forgets where it started after ``SYNC`` bytes
(every state then reaches the state the start state reaches: tests prove
this on the shipped model), so the state after byte i is the start state
walked over bytes i-SYNC+1..i, and every position's state is ``SYNC``
vectorised lookups. The counts go into py3langid's own matrix product in
the order its Counter lists them (first occurrence), so the scores are the
same floats. The model's weights ship as float16, which numpy widens to
float32 for every product, slowly (~4 ns a value, 50,000 values a text):
they are widened once at load (57 MB more per process; the same floats).
"""

from __future__ import annotations

from array import array
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, RAW_FLOOR, LanguageIdentifier

MIN_LETTERS = 20
MIN_PROBABILITY = 0.80
# The start of an article says enough and keeps the cost flat: on the corpora
# (19,604 texts, 4,166 longer than 1,000 characters: ../shared/corpora
# topic_azerbaijan_france, dedup, the seed) 1,200 characters give every label
# that 5,000 gave; 750 already change five. The cost grows with the length.
MAX_CHARS = 1_200
# After this many bytes the model's DFA is in the same state whatever state it
# started in (tests/test_language.py proves it for the installed model).
SYNC = 6


class LanguageDetector(Protocol):
    def detect(self, text: str) -> str | None:
        """An ISO 639-1 code (``"en"``, ``"az"``) or None when unsure."""
        ...


class LangidDetector:
    """py3langid with normalised probabilities and a confidence floor."""

    def __init__(self, min_probability: float = MIN_PROBABILITY) -> None:
        self._identifier = _identifier()
        self._min_probability = min_probability

    def detect(self, text: str) -> str | None:
        sample = text[:MAX_CHARS]
        if not _has_letters(sample, MIN_LETTERS):
            return None
        code, probability = self._identifier.classify(sample)
        return str(code) if probability >= self._min_probability else None


def _has_letters(text: str, count: int) -> bool:
    """At least ``count`` letters; stops at the ``count``-th (the start of a text)."""
    seen = 0
    for character in text:
        if character.isalpha():
            seen += 1
            if seen >= count:
                return True
    return False


def _numbers(values: array[int]) -> npt.NDArray[np.uint32]:
    """A numpy view of one of py3langid's stdlib arrays (no copy)."""
    return np.frombuffer(values, dtype=np.uint16 if values.itemsize == 2 else np.uint32)


class FastIdentifier(LanguageIdentifier):  # type: ignore[misc]
    """py3langid's identifier with its byte-by-byte feature count done by numpy."""

    __slots__ = ("_moves", "_outputs", "_row_starts", "_weights")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._moves = _numbers(self.tk_nextmove)  # transitions, 256 per distinct row
        self._row_starts = _numbers(self.tk_row).astype(np.intp) << 8  # state -> its row
        self._outputs = np.asarray(self.tk_output, dtype=np.intp)  # state -> feature or -1
        self._weights = self.nb_ptc.astype(np.float32)  # exactly the float16 values

    def set_languages(self, langs: list[str] | None = None) -> None:
        super().set_languages(langs)
        self._weights = self.nb_ptc.astype(np.float32)  # the chosen languages' columns

    def states(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
        """The DFA state after each byte of ``codes``, as py3langid's walk reaches them."""
        head = min(len(codes), SYNC - 1)
        state, first = 0, []
        for code in codes[:head].tolist():  # the first bytes: walked from the start
            state = self.tk_nextmove[self._rowbase[state] + code]
            first.append(state)
        rest = len(codes) - head
        states = np.zeros(rest, dtype=np.intp)
        if rest:
            for offset in range(SYNC):  # every later byte: its last SYNC bytes, all at once
                states = self._moves[self._row_starts[states] + codes[offset : offset + rest]]
        return np.concatenate((np.array(first, dtype=np.intp), states))

    def feature_counts(self, text: bytes) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """The features seen and their counts, in order of first occurrence
        (py3langid's ``visit_counts`` Counter, as arrays)."""
        features = self._outputs[self.states(np.frombuffer(text, dtype=np.uint8))]
        features = features[features >= 0]
        order = features.argsort(kind="stable")  # equal features keep their positions' order
        ordered = features[order]
        starts = np.empty(len(ordered) + 1, dtype=bool)  # where each feature's run begins
        starts[0] = starts[-1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:-1])
        bounds = starts.nonzero()[0]
        first = bounds[:-1]
        by_first = order[first].argsort()
        return ordered[first][by_first], (bounds[1:] - first)[by_first]

    def _raw_score(self, text: bytes) -> npt.NDArray[np.float32]:
        """py3langid's ``_raw_score`` (Naive Bayes scores of encoded text), counted by numpy."""
        features, counts = self.feature_counts(text)
        if len(features):
            scores: npt.NDArray[np.float32] = (
                np.log1p(counts.astype(np.float32)) @ self._weights[features] + self.nb_pc
            )
            return scores
        fill = 0.0 if self._norm_probs else RAW_FLOOR
        return np.full(len(self.nb_classes), fill, dtype=np.float32)


@lru_cache(maxsize=1)
def _identifier() -> FastIdentifier:
    """The model, loaded once per process (about 0.5 s)."""
    identifier: FastIdentifier = FastIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return identifier


@lru_cache(maxsize=1)
def default_detector() -> LangidDetector:
    return LangidDetector()
