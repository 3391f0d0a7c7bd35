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
keeps py3langid's model, encoding and scoring and does the same walk in C
(``service/_language.c``, one pass over the bytes; numpy's vectorised walk
and sort before it cost two thirds of an article's detection). The counts go
into py3langid's own matrix product in the order its Counter lists them
(first occurrence), so the scores are the same floats. The model's weights
ship as float16, which numpy widens to float32 for every product, slowly
(~4 ns a value, 50,000 values a text): they are widened once at load (57 MB
more per process; the same floats).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, RAW_FLOOR, LanguageIdentifier

from service._language import count_features

MIN_LETTERS = 20
MIN_PROBABILITY = 0.80
# The start of an article says enough and keeps the cost flat: on the corpora
# (19,604 texts, 4,166 longer than 1,000 characters: ../shared/corpora
# topic_azerbaijan_france, dedup, the seed) 1,200 characters give every label
# that 5,000 gave; 750 already change five. The cost grows with the length.
MAX_CHARS = 1_200


class LanguageDetector(Protocol):
    def detect(self, text: str) -> str | None:
        """An ISO 639-1 code (``"en"``, ``"az"``) or None when unsure."""
        ...


class LangidDetector:
    """py3langid with normalised probabilities and a confidence floor."""

    def __init__(self, min_probability: float = MIN_PROBABILITY) -> None:
        self._min_probability = min_probability

    def detect(self, text: str) -> str | None:
        sample = text[:MAX_CHARS]
        if not _has_letters(sample, MIN_LETTERS):
            return None
        # the model is loaded at the first detection, not with the detector: a poller
        # beside Celery workers builds one and never detects (service.runner)
        code, probability = _identifier().classify(sample)
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


class FastIdentifier(LanguageIdentifier):  # type: ignore[misc]
    """py3langid's identifier with its byte-by-byte feature count done in C."""

    __slots__ = ("_moves", "_outputs", "_row_starts", "_slots", "_weights")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._moves = np.asarray(self.tk_nextmove, dtype=np.uint32)  # 256 per distinct row
        # state -> where its row of 256 moves starts
        self._row_starts = (np.asarray(self.tk_row, dtype=np.uint32) << 8).astype(np.uint32)
        self._outputs = np.asarray(self.tk_output, dtype=np.int32)  # state -> feature or -1
        # a feature's place in the output while a text is counted; -1 between calls
        self._slots = np.full(len(self.nb_ptc), -1, dtype=np.int32)
        self._weights = self.nb_ptc.astype(np.float32)  # exactly the float16 values

    def set_languages(self, langs: list[str] | None = None) -> None:
        super().set_languages(langs)
        self._weights = self.nb_ptc.astype(np.float32)  # the chosen languages' columns

    def feature_counts(self, text: bytes) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """The features seen and their counts, in order of first occurrence
        (py3langid's ``visit_counts`` Counter, as arrays)."""
        features = np.empty(len(text), dtype=np.intp)
        counts = np.empty(len(text), dtype=np.intp)
        found = count_features(self._moves, self._row_starts, self._outputs, self._slots,
                               text, features, counts)
        return features[:found], counts[:found]

    def _raw_score(self, text: bytes) -> npt.NDArray[np.float32]:
        """py3langid's ``_raw_score`` (Naive Bayes scores of encoded text), counted in C."""
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
