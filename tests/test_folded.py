"""Whole-text folding: the fast paths give exactly the words and offsets of the reference."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.matching.field import Lines
from service.text.folded import FOLDED_LETTERS, SEPARATORS, FoldedText
from service.text.normalize import normalize_word, word_spans, words
from service.text.sentences import sentence_around, sentence_spans

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


def spans_by_fast_path(folded: FoldedText, order: int) -> list[tuple[int, int]]:
    """Every word's span, asked for in text order (1), backwards (-1) or from the middle (0)."""
    places = []
    at = 1
    for index, word in enumerate(folded.joined[1:-1].split(" ") if folded.joined.strip() else []):
        places.append((index, at))
        at += len(word) + 1
    asked = places[::order] if order else places[len(places) // 2 :] + places[: len(places) // 2]
    spans = {index: folded.span(index, at) for index, at in asked}
    return [spans[index] for index, _ in places]


@settings(max_examples=600)
@given(st.text(alphabet=ALPHABET, max_size=60))
@example("İstanbul’s Əliyev met Алиёв — «Straße» ﬁnance…")
@example("Théo Clerc\u0301 a\u0301b _x_ ")
@example("Łódź, ŁÓDŹ: żółć")
def test_folded_words_are_the_reference_words(text: str) -> None:
    folded = FoldedText(text)
    assert folded.joined == reference(text)


@settings(max_examples=600)
@given(st.text(alphabet=ALPHABET, max_size=60))
@example("Théo’s «Clerc» — ПАРИЖ…\xa0Łódź")
def test_word_offsets_are_the_reference_offsets(text: str) -> None:
    for order in (1, -1, 0):
        assert spans_by_fast_path(FoldedText(text), order) == word_spans(text)


@given(st.text(alphabet=ALPHABET, max_size=80))
@example("Mr. Smith met M. Clerc in the U.S. on Monday. He left.\nThen «Paris»! ok")
def test_the_sentence_around_a_word_is_the_one_sentence_spans_finds(text: str) -> None:
    sentences = sentence_spans(text)
    for start, _ in word_spans(text):
        expected = next(s for s in sentences if s[0] <= start < s[1])
        assert sentence_around(text, start) == expected


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
    folded = FoldedText(text)
    assert folded.joined == " the baku paris talks again aliyev s visit "
    index = folded.joined.index(" aliyev ") + 1
    assert folded.span(5, index) == (32, 38)
    assert text[32:38] == "Aliyev"


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET + "\n\n..", max_size=80))
@example("He met Mr. Aliyev. Then M. Clerc… «Non!» dit-il.\nFin.\n\n  Next line")
def test_sentences_read_line_by_line_are_the_sentences_of_the_text(text: str) -> None:
    lines = Lines(text, FoldedText(text))
    starts = [start for start, _ in word_spans(text)]

    def key(token: int) -> tuple[int, int]:
        line = lines.line(token)
        return line, lines.sentence(line, token)

    for token, start in enumerate(starts):
        assert lines.sentence_around(token, start) == sentence_around(text, start)
        for other, second in enumerate(starts):
            same = sentence_around(text, start) == sentence_around(text, second)
            assert (key(token) == key(other)) == same
        first, last = lines.words(lines.line(token))
        assert first <= token < last
        assert "\n" not in text[starts[first] : start]
