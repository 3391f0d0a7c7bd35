"""The language detector gives py3langid's own answer, counted in C.

``FastIdentifier`` does py3langid's byte-by-byte automaton walk in C
(``service/_language.c``); these tests compare feature counts, scores and
labels with py3langid itself over real news in many languages and over
arbitrary bytes, and hold the C walk to its bounds on a broken table.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from service._language import count_features
from service.language import MAX_CHARS, FastIdentifier, LangidDetector, _identifier
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


def test_feature_counts_are_py3langids() -> None:
    model, reference = _identifier(), _reference()
    for text in _texts()[::9]:
        for sample in (text, text[:3], text[:6]):
            encoded = reference._encode(sample)
            features, counts = model.feature_counts(encoded)
            visits = visit_counts(reference.tk_nextmove, reference._rowbase,
                                  reference.tk_output, encoded) or {}
            assert list(zip(features.tolist(), counts.tolist(), strict=True)) == list(
                visits.items()), sample


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_feature_counts_are_py3langids_on_any_bytes(data: bytes) -> None:
    model, reference = _identifier(), _reference()
    features, counts = model.feature_counts(data)
    visits = visit_counts(reference.tk_nextmove, reference._rowbase, reference.tk_output,
                          data) or {}
    assert list(zip(features.tolist(), counts.tolist(), strict=True)) == list(visits.items())
    assert (model._slots == -1).all()  # the shared scratch is clean for the next text


def test_a_broken_automaton_is_refused_not_read_past() -> None:
    moves = np.array([1, 5] + [0] * 254, dtype=np.uint32)  # byte 1 goes to state 5: none
    rowbase = np.zeros(2, dtype=np.uint32)
    outputs = np.array([-1, 0], dtype=np.int32)
    slots = np.full(1, -1, dtype=np.int32)
    room = np.empty(3, dtype=np.intp), np.empty(3, dtype=np.intp)
    assert count_features(moves, rowbase, outputs, slots, b"\x00\x00", *room) == 1
    assert room[0][0] == 0 and room[1][0] == 2 and (slots == -1).all()
    with pytest.raises(ValueError, match="state"):
        count_features(moves, rowbase, outputs, slots, b"\x00\x01\x00", *room)
    assert (slots == -1).all()  # reset on the way out of an error too
    with pytest.raises(ValueError, match="room"):
        count_features(moves, rowbase, outputs, slots, b"\x00" * 4, *room)
    with pytest.raises(TypeError, match="moves"):
        count_features(moves.astype(np.uint16), rowbase, outputs, slots, b"", *room)


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
    assert isinstance(_identifier(), FastIdentifier)  # the one the detector classifies with
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
