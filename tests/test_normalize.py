"""Normalisation and tokenisation: the one definition of a word that matching relies on."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.text.normalize import normalize_term, normalize_word, tokenize, word_spans, words

LETTERS = "abcdefghijklmnopqrstuvwxyzəğışöüçабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
# acute, grave, circumflex, diaeresis, cedilla, caron
ACCENTS = "\u0301\u0300\u0302\u0308\u0327\u030c"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Théo", "theo"),
        ("THÉO", "theo"),
        ("Theo", "theo"),
        ("İlham", "ilham"),
        ("ılham", "ilham"),
        ("ILHAM", "ilham"),
        ("Əliyev", "əliyev"),
        ("ƏLİYEV", "əliyev"),
        ("Алиёв", "алиев"),
        ("АЛИЁВ", "алиев"),
        ("Андрей", "андрей"),  # й is a letter of its own, not и with an accent
        ("Straße", "strasse"),
        ("ﬁnance", "finance"),
        ("Ｐａｒｉｓ", "paris"),  # full-width forms fold through NFKC
        ("gracié", "gracie"),
        ("Şuşa", "susa"),
    ],
)
def test_normalize_word(word: str, expected: str) -> None:
    assert normalize_word(word) == expected


def test_tokenize_splits_on_apostrophes_hyphens_and_dashes() -> None:
    assert [t.norm for t in tokenize("Azerbaijan's")] == ["azerbaijan", "s"]
    assert [t.norm for t in tokenize("Azerbaijan–France")] == ["azerbaijan", "france"]
    assert [t.norm for t in tokenize("spray-painting l'homme")] == [
        "spray",
        "painting",
        "l",
        "homme",
    ]
    assert [t.norm for t in tokenize("snake_case")] == ["snake", "case"]


def test_invisible_joiners_stay_inside_words_and_fold_away() -> None:
    """A soft hyphen (``&shy;``), a zero-width (non-)joiner or a word joiner inside a
    word neither splits it nor stays in its folded form; its offsets cover the word."""
    persian = "\u0645\u06cc\u062e\u0648\u0627\u0647\u0645"  # "I want", written with a ZWNJ
    text = f"Ali\u00adyev, Mac\u2060ron, {persian[:2]}\u200c{persian[2:]}"
    tokens = tokenize(text)
    assert [t.norm for t in tokens] == ["aliyev", "macron", persian]
    assert text[tokens[0].start:tokens[0].end] == "Ali\u00adyev"
    assert words("\u00adAliyev\u00ad") == ["aliyev"]


def test_tokenize_keeps_offsets_in_the_original_text() -> None:
    text = "«THÉO CLERC», gracié par İlham Əliyev — Алиёв!"
    tokens = tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == [
        "THÉO", "CLERC", "gracié", "par", "İlham", "Əliyev", "Алиёв",
    ]  # fmt: skip
    assert [t.norm for t in tokens] == [
        "theo",
        "clerc",
        "gracie",
        "par",
        "ilham",
        "əliyev",
        "алиев",
    ]


def test_tokenize_keeps_decomposed_accents_and_vowel_signs_inside_words() -> None:
    decomposed = unicodedata.normalize("NFD", "Théo école")
    assert [t.norm for t in tokenize(decomposed)] == ["theo", "ecole"]
    assert [t.norm for t in tokenize("नमस्ते दुनिया")] == ["नमस्ते", "दुनिया"]
    assert [t.norm for t in tokenize("北京 2024年")] == ["北", "京", "2024", "年"]  # unspaced


def test_words_and_word_spans_agree_with_tokenize() -> None:
    text = "On May 27, Aliyev pardoned French national Théo Clerc."
    tokens = tokenize(text)
    assert words(text) == [t.norm for t in tokens]
    assert word_spans(text) == [(t.start, t.end) for t in tokens]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Teo Klerk*", (("teo", "klerk"), True)),
        ("pardon*", (("pardon",), True)),
        ("Ilham Aliyev", (("ilham", "aliyev"), False)),
        ("  İlham  Əliyev ", (("ilham", "əliyev"), False)),
        ("Azerbaijan–France", (("azerbaijan", "france"), False)),
        ("Алиев*", (("алиев",), True)),
    ],
)
def test_normalize_term(term: str, expected: tuple[tuple[str, ...], bool]) -> None:
    assert normalize_term(term) == expected


@pytest.mark.parametrize("term", ["", "   ", "*", "–", "par*don", "Klerk *", "**"])
def test_normalize_term_rejects_terms_without_words_or_with_inner_star(term: str) -> None:
    with pytest.raises(ValueError):
        normalize_term(term)


word_text = st.text(alphabet=LETTERS, min_size=1, max_size=12)


@given(word_text)
def test_case_does_not_matter(word: str) -> None:
    assert normalize_word(word.upper()) == normalize_word(word) == normalize_word(word.title())


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12), st.data())
def test_accents_do_not_matter(word: str, data: st.DataObject) -> None:
    accented = "".join(c + data.draw(st.sampled_from(["", *ACCENTS])) for c in word)
    assert normalize_word(unicodedata.normalize("NFC", accented)) == word
    assert normalize_word(unicodedata.normalize("NFD", accented)) == word


@given(st.text())
def test_normalize_word_is_idempotent_and_has_no_spaces(text: str) -> None:
    once = normalize_word(text)
    assert normalize_word(once) == once
    assert not any(c.isspace() for c in once)


@given(st.text())
def test_tokens_are_ordered_non_empty_slices_of_the_text(text: str) -> None:
    tokens = tokenize(text)
    ends = [0, *(t.end for t in tokens)]
    for token, previous_end in zip(tokens, ends, strict=False):
        assert previous_end <= token.start < token.end <= len(text)
        assert token.norm == normalize_word(text[token.start : token.end])


@given(word_text, word_text)
def test_words_are_found_whatever_the_punctuation_around_them(a: str, b: str) -> None:
    for sep in (" ", "'", "’", "-", "–", ", ", "…", "\n", "/"):
        assert words(f"«{a}{sep}{b}»") == [normalize_word(a), normalize_word(b)]
