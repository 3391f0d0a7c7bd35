"""The C near-copy path against the code it replaced, bit for bit.

Fingerprints, shingles and band keys are stored (feed segments, article
sketches, the band index): an article sketched by the C modules must meet
the stored ones of articles sketched before. So segments, shingles, the
MinHash signature and band keys must equal :mod:`tests.reference_sketch`'s
(the regular-expression and numpy code of session 4) on any text hypothesis
finds and on every text of the dedup corpora.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from xxhash import xxh3_64_intdigest

from service.stories import _sketch, article_parts, article_sketch
from service.stories._segments import split
from service.stories.boilerplate import Segment, segments, strip_boilerplate
from service.stories.shingles import shingles_of
from service.stories.signature import band_keys, hashvalues, minhash, permutations, sketch
from tests import reference_sketch
from tests.conftest import SHARED

DEDUP = SHARED / "corpora/dedup"
MANY = settings(max_examples=400)

# what the segment and word rules look at, often enough to meet each other
_PIECES = [
    "a", "Word", "ÉCOLE", "İlham", "ёж", "x_y", "_", "12", "٣", "½", "Ⅻ", "²", "ﬁ", " ", "  ",
    "\n", "\r\n", "\t", "\u00a0", "\u2028", "\u3000", "\x1f", "\x00", ".", "!", "?", "…",
    "。", "！", "？", '"', "'", "»", "”", "’", ")", "]", "(", "-", ",", "習", "近", "ひ",
    "カ", "゠", "・", "กา", "한", "http://x.io/a?b=1", "www.y.org", "e\u0301", "\U0001d400",
    "\U0001f600", "0", "007", "3.5",
]
pieced_texts = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)
any_texts = st.text(max_size=300)
# words as segments make them: no surrogates (they are not letters), never empty
words = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


@MANY
@given(text=st.one_of(pieced_texts, any_texts))
@example(text="A. \"B\" c.\" D!) e?\n\n f\x00g … h。i")
@example(text="x_y 12 34a5 ..  \u2028z")
def test_segments_are_the_regular_expressions(text: str) -> None:
    assert segments(text) == reference_sketch.segments(text)


@pytest.mark.parametrize("template", ["a{}b", "a.{}b", "x.){}y"])
def test_every_code_point_is_a_letter_space_or_mark_as_for_re(template: str) -> None:
    """Each character in a word, a space after a sentence end, between: as re's \\w, \\s."""
    for block in range(0, 0x110000, 0x10000):
        text = " ".join(template.format(chr(c)) for c in range(block, block + 0x10000)
                        if not 0xD800 <= c <= 0xDFFF)
        assert split(text, Segment, xxh3_64_intdigest) == reference_sketch.split(text), hex(block)


@MANY
@given(word_list=st.lists(st.one_of(words, st.sampled_from(_PIECES[:14])), max_size=40))
@example(word_list=["a" * 1500, "b" * 1023, "c" * 1024])  # past the last power
@example(word_list=["one"])
@example(word_list=["one", "two"])
@example(word_list=["w", "w", "w", "w", "w"])  # repeated shingles: unique
def test_shingles_are_the_numpy_ones(word_list: list[str]) -> None:
    found = shingles_of(word_list)
    assert found.dtype == np.uint32
    assert np.array_equal(found, reference_sketch.shingles_of(word_list))


uint32s = st.integers(0, 2**32 - 1)
shingle_sets = st.sets(uint32s, min_size=1, max_size=500).map(
    lambda values: np.array(sorted(values), dtype=np.uint32))


@MANY
@given(shingles=shingle_sets)
@example(shingles=np.array([0], dtype=np.uint32))
@example(shingles=np.array([2**32 - 1], dtype=np.uint32))
def test_signature_and_band_keys_are_the_numpy_ones(shingles: np.ndarray) -> None:
    values = hashvalues(shingles)
    expected = reference_sketch.hashvalues(shingles)
    assert np.array_equal(values, expected)
    assert band_keys(values) == reference_sketch.band_keys(expected)
    assert sketch(shingles).bands == reference_sketch.band_keys(expected)


@settings(max_examples=60)
@given(shingles=shingle_sets)
def test_signature_is_datasketchs(shingles: np.ndarray) -> None:
    assert np.array_equal(hashvalues(shingles), minhash(shingles).hashvalues)


def _corpus_texts() -> Iterator[tuple[str, str]]:
    """(title, text) of every rumca entry and every SemEval article (first line as title)."""
    for path in sorted((DEDUP / "rumca_daily_rss_unlabelled").glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            yield item.get("title") or "", item.get("description") or ""
    csv.field_size_limit(1 << 30)
    with open(DEDUP / "semeval2022_task8/testing_set.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for text in (row["text1"], row["text2"]):
                title, _, body = text.strip().partition("\n")
                yield title, body


def _reference_parts(title: str, text: str) -> tuple[list[Segment], int]:
    heading = reference_sketch.segments(title)
    return heading + reference_sketch.segments(text), len(heading)


@pytest.mark.timeout(600)
def test_every_corpus_text_sketches_as_before() -> None:
    count = 0
    for title, text in _corpus_texts():
        parts, title_parts = article_parts(title, text)
        assert (parts, title_parts) == _reference_parts(title, text), (title, text[:200])
        found = article_sketch(parts, title_parts=title_parts)
        expected = reference_sketch.shingles_of(strip_boilerplate(parts, frozenset(), title_parts))
        assert np.array_equal(found.shingles, expected), (title, text[:200])
        if len(expected):
            assert found.bands == reference_sketch.band_keys(reference_sketch.hashvalues(expected))
        count += 1
    assert count > 13_000  # 11,218 rumca entries, 2 x 1,283 SemEval articles (10 languages)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="word 1 is empty"):
        shingles_of(["one", "", "three"])
    with pytest.raises(TypeError, match="word 0 is a int"):
        shingles_of([3])  # type: ignore[list-item]
    a, b = permutations()
    with pytest.raises(ValueError, match="no shingles"):
        _sketch.signature(np.empty(0, dtype=np.uint32), a, b)
    with pytest.raises(TypeError, match="shingles must hold uint32 values, not format 'l'"):
        _sketch.signature(np.arange(3, dtype=np.int64), a, b)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="192 values in a, 3 in b"):
        _sketch.signature(np.arange(3, dtype=np.uint32), a, b[:3])
    with pytest.raises(ValueError, match="65 bands of 3 rows"):
        _sketch.band_keys(a, 65, 3)

