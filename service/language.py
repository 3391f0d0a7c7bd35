"""The language of an article, detected offline and stored with it.

Analysts filter and read alerts by language, and the backtest shows it. The
detector is py3langid (a maintained fork of langid.py): its model ships
inside the package, so nothing is downloaded at run time, and it classifies a
3 KB article in well under a millisecond. Short texts are unreliable, so a
guess is only returned when the text has enough letters and the detector's
normalised probability is high enough; otherwise the language is unknown
(None), never a wild guess.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from py3langid.langid import MODEL_FILE, LanguageIdentifier

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


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    """The model, loaded once per process (about 0.5 s)."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=1)
def default_detector() -> LangidDetector:
    return LangidDetector()


def detect_language(text: str) -> str | None:
    """The language of ``text`` with the default detector (None when unsure)."""
    return default_detector().detect(text)
