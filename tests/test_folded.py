"""Whole-text folding and sentences in C (service/matching/_core.c): exactly the words,
offsets and sentences of the Python reference (words, word_spans, sentence_spans)."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.domain import Evidence, Match
from service.matching import _core
from service.matching.field import EVIDENCE, MATCH, RULES, record
from service.text.folded import FOLDED_LETTERS, SEPARATORS
from service.text.normalize import normalize_word, word_spans, words
from service.text.sentences import sentence_spans

# Letters, digits, the troublesome folds, combining marks, other scripts, separators.
ALPHABET = (
    "aAzZ09 .,;:!?'\"-_()\n\t/"
    "éÉèçàüöÖßŁłąęśżİıIiÄŞşğəƏЁёЙйабвгдеёжзиАБВГДЕЖЗИ"
    "ﬁＰ½²Ⅳ"  # compatibility forms
    "\u0301\u0308\u0327\u0306\u093f"  # combining marks, a Devanagari vowel sign
    "नमस्ते北京年αβΣσς"
    "’‘“”„«»–—…\xa0\u2009€£©\u200b"
    "\ud800"  # a lone surrogate
)


def reference(text: str) -> str:
    return " " + " ".join(words(text)) + " "


def scanned(text: str) -> _core.Scan:
    """``text`` folded (and not searched: no automaton)."""
    return _core.scan(RULES, text, None)


def spans_by_fast_path(scan: _core.Scan, order: int) -> list[tuple[int, int]]:
    """Every word's span, asked for in text order (1), backwards (-1) or from the middle (0)."""
    places = list(range(scan.words))
    asked = places[::order] if order else places[len(places) // 2 :] + places[: len(places) // 2]
    spans = {index: scan.span(index) for index in asked}
    return [spans[index] for index in places]


def sentence_of(text: str, start: int) -> tuple[int, int]:
    """The sentence of sentence_spans that holds offset ``start``."""
    return next(s for s in sentence_spans(text) if s[0] <= start < s[1])


@settings(max_examples=600)
@given(st.text(alphabet=ALPHABET, max_size=60))
@example("İstanbul’s Əliyev met Алиёв — «Straße» ﬁnance…")
@example("Théo Clerc\u0301 a\u0301b _x_ ")
@example("Łódź, ŁÓDŹ: żółć")
def test_folded_words_are_the_reference_words(text: str) -> None:
    assert scanned(text).joined == reference(text)


@settings(max_examples=600)
@given(st.text(alphabet=ALPHABET, max_size=60))
@example("Théo’s «Clerc» — ПАРИЖ…\xa0Łódź")
def test_word_offsets_are_the_reference_offsets(text: str) -> None:
    for order in (1, -1, 0):
        assert spans_by_fast_path(scanned(text), order) == word_spans(text)


@given(st.text(alphabet=ALPHABET, max_size=80))
@example("Mr. Smith met M. Clerc in the U.S. on Monday. He left.\nThen «Paris»! ok")
def test_the_sentence_of_a_word_is_the_one_sentence_spans_finds(text: str) -> None:
    scan = scanned(text)
    for token, (start, _) in enumerate(word_spans(text)):
        assert scan.sentence(token) == sentence_of(text, start)


def test_every_separator_separates_and_every_folded_letter_is_one_word() -> None:
    for char in SEPARATORS:
        assert words(f"a{char}b") == ["a", "b"], repr(char)
    for char, folded in FOLDED_LETTERS.items():
        assert normalize_word(char) == folded
        assert words(f"x{char}y") == [normalize_word(f"x{char}y")], repr(char)


@pytest.mark.parametrize("second", ["a", "Z", "1", "é", "ł", "ё", "Ə", "ß", "ı", "İ", "Й", "ά"])
def test_folded_letters_fold_the_same_beside_any_other(second: str) -> None:
    for char, folded in FOLDED_LETTERS.items():
        pair = unicodedata.normalize("NFC", char + second)
        assert normalize_word(char + second) == folded + normalize_word(second), repr(pair)
        assert normalize_word(second + char) == normalize_word(second) + folded, repr(pair)


def test_ascii_text_keeps_its_offsets() -> None:
    text = "The  Baku–Paris talks, (again): Aliyev's visit."
    scan = scanned(text)
    assert scan.joined == " the baku paris talks again aliyev s visit "
    assert scan.span(5) == (32, 38)
    assert text[32:38] == "Aliyev"


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET + "\n\n..", max_size=80))
@example("He met Mr. Aliyev. Then M. Clerc… «Non!» dit-il.\nFin.\n\n  Next line")
def test_sentences_of_words_are_the_sentences_of_the_text(text: str) -> None:
    scan = scanned(text)
    starts = [start for start, _ in word_spans(text)]
    for token, start in enumerate(starts):
        assert scan.sentence(token) == sentence_of(text, start)
        for other, second in enumerate(starts):
            same = sentence_of(text, start) == sentence_of(text, second)
            assert (scan.sentence(token) == scan.sentence(other)) == same


PIECES = [
    "Mr.", "M.", "U.S.", "т.е.", "г.", "Gen.", "approx.", "məs.", "J.", "x.", " ", "  ", "\n",
    "\t", "\xa0", "\u2009", ".", "!", "?", "…", "。", "！", "?!", "...", ".”", ".’", ".»", ")",
    "]", '"', "'", "«", "“", "„", "(", "word", "Word", "ÉTAT", "été", "Алиев", "алиев", "İz",
    "ıx", "北京", "a", "B", "1", "ﬁn",
]  # fmt: skip


@settings(max_examples=500)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
@example("Dr. Who met Mr. (Smith). He said “No.” Then… U.S. talks!? Yes.\n\nEnd. x.Y. é. É.")
def test_sentences_around_abbreviations_and_quotes_are_the_reference_sentences(
    text: str,
) -> None:
    scan = scanned(text)
    for token, (start, _) in enumerate(word_spans(text)):
        assert scan.sentence(token) == sentence_of(text, start)


def test_values_made_without_init_are_the_values_init_makes() -> None:
    evidence = EVIDENCE("title", "Aliyev met Macron.", ((0, 6), (11, 17)))
    assert evidence == Evidence("title", "Aliyev met Macron.", ((0, 6), (11, 17)))
    assert hash(evidence) == hash(Evidence("title", "Aliyev met Macron.", ((0, 6), (11, 17))))
    assert repr(evidence) == repr(Evidence("title", "Aliyev met Macron.", ((0, 6), (11, 17))))
    match = MATCH("event", "pardon", "Pardon", (evidence,), ("aliyev",))
    assert match == Match("event", "pardon", "Pardon", (evidence,), ("aliyev",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        EVIDENCE("title", "too few")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        record(Unslotted)  # no slots to set
    with pytest.raises(TypeError):
        record(Checked)  # its __init__ does more than set fields


@dataclasses.dataclass(frozen=True)
class Unslotted:
    a: str


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    a: str

    def __post_init__(self) -> None:
        assert self.a
