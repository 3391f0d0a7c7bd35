"""The language detector gives py3langid's own answer, counted by numpy.

``FastIdentifier`` replaces py3langid's byte-by-byte automaton walk with
``SYNC`` vectorised lookups; these tests prove the automaton does forget its
start after ``SYNC`` bytes (over every state and every byte string, on the
installed model) and compare feature counts, scores and labels with
py3langid itself over real news in many languages.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from service.language import MAX_CHARS, SYNC, FastIdentifier, LangidDetector, _identifier
from tests.conftest import SHARED

CORPORA = SHARED / "corpora"


@lru_cache(maxsize=1)
def _reference() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _semeval() -> Iterator[tuple[str, str]]:
    """(language, text) of both articles of each SemEval 2022 pair (16 languages)."""
    csv.field_size_limit(sys.maxsize)
    for name in ("training_set.csv", "testing_set.csv"):
        with open(CORPORA / "dedup/semeval2022_task8" / name, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield row["lang1"], row["text1"]
                yield row["lang2"], row["text2"]


def _feed_entries() -> Iterator[str]:
    """Titles and descriptions of a day of 100+ outlets' feeds and the topic files."""
    for path in [*sorted((CORPORA / "dedup/rumca_daily_rss_unlabelled").glob("*.json"))[:1],
                 *sorted((CORPORA / "topic_azerbaijan_france").rglob("*.json"))]:
        for entry in json.loads(path.read_text(encoding="utf-8")):
            yield "\n".join(str(entry.get(k) or "") for k in ("title", "description", "summary",
                                                             "text", "content"))


@lru_cache(maxsize=1)
def _texts() -> list[str]:
    texts = [text for _, text in _semeval()] + list(_feed_entries())
    return [t for t in texts if t.strip()]


def test_the_corpus_spans_many_languages() -> None:
    languages = {language for language, _ in _semeval()}
    assert len(languages) >= 10
    assert len(_texts()) > 10_000


def test_the_automaton_forgets_its_start_after_sync_bytes() -> None:
    """For every state s and every byte string w of SYNC bytes, s and the start
    state reach the same state on w (and SYNC - 1 bytes are not enough)."""
    model = _identifier()
    moves = np.frombuffer(model.tk_nextmove, dtype=np.uint16 if model.tk_nextmove.itemsize == 2
                          else np.uint32).reshape(-1, 256).astype(np.int64)
    row = np.frombuffer(model.tk_row, dtype=np.uint16 if model.tk_row.itemsize == 2
                        else np.uint32).astype(np.int64)
    states = np.arange(len(row), dtype=np.int64)
    pairs = np.stack((states, np.zeros_like(states)), axis=1)  # (state, start state)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    apart = []  # how many distinct unequal pairs remain after each byte
    for _ in range(SYNC):
        pairs = _step(moves, row, pairs)
        apart.append(len(pairs))
    assert apart[-1] == 0, apart
    assert apart[-2] > 0, apart


def _step(moves: npt.NDArray[np.int64], row: npt.NDArray[np.int64],
          pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Every unequal (state, state) pair one byte on from ``pairs``; a pair's moves
    depend only on its states' rows, so pairs sharing their rows are expanded once."""
    rows = np.unique(row[pairs], axis=0)
    found = []
    for chunk in range(0, len(rows), 4096):
        part = rows[chunk : chunk + 4096]
        after = np.stack((moves[part[:, 0]].ravel(), moves[part[:, 1]].ravel()), axis=1)
        after = after[after[:, 0] != after[:, 1]]
        # keep one state pair per pair of rows (all that matters from here on)
        by_rows = np.unique(row[after], axis=0, return_index=True)[1]
        found.append(after[by_rows])
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def test_feature_counts_are_py3langids() -> None:
    model, reference = _identifier(), _reference()
    for text in _texts()[::9]:
        for sample in (text, text[:3], text[:SYNC]):
            encoded = reference._encode(sample)
            features, counts = model.feature_counts(encoded)
            visits = visit_counts(reference.tk_nextmove, reference._rowbase,
                                  reference.tk_output, encoded) or {}
            assert list(zip(features.tolist(), counts.tolist(), strict=True)) == list(
                visits.items()), sample


def test_labels_and_probabilities_are_py3langids_on_real_news() -> None:
    model, reference = _identifier(), _reference()
    labels: set[str] = set()
    for text in _texts()[::2]:  # all 11,577 agreed too; half keeps the suite's time
        sample = text[:MAX_CHARS]
        expected = reference.classify(sample)
        assert model.classify(sample) == expected, sample
        labels.add(expected[0])
    assert len(labels) >= 15


@pytest.mark.parametrize("text", ["", "a", "Ab", "\u00e9t\u00e9", "12345", "abcdef", "ABCDEFG",
                                  "\ud800 lone surrogate", "日本語のテキスト"])
def test_short_and_odd_texts(text: str) -> None:
    reference = _reference()
    assert _identifier().classify(text) == reference.classify(text)
    encoded = reference._encode(text)
    assert np.array_equal(_identifier()._raw_score(encoded), reference._raw_score(encoded))


def test_detector_uses_the_fast_identifier() -> None:
    detector = LangidDetector()
    assert isinstance(detector._identifier, FastIdentifier)
    assert detector.detect("Le président de la République a reçu hier les représentants "
                           "des syndicats à l'Élysée.") == "fr"
    assert detector.detect("too short") is None


def test_restricted_languages_are_py3langids() -> None:
    model = FastIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    for identifier in (model, reference):
        identifier.set_languages(["de", "nl", "en"])
    for text in _texts()[:300]:
        assert model.classify(text) == reference.classify(text)
