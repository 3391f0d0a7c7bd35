"""Sentence spans: abbreviations and initials must not end a sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.text.sentences import sentence_spans


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. Army met Mr. Smith. Then Dr. J. Smith left!",
            ["The U.S. Army met Mr. Smith.", "Then Dr. J. Smith left!"],
        ),
        (
            "Gen. Jones arrived on Jan. 5 at St. Petersburg. Was he late? Nobody knows…",
            ["Gen. Jones arrived on Jan. 5 at St. Petersburg.", "Was he late?", "Nobody knows…"],
        ),
        (
            "M. Macron a reçu Mme Aliyeva. « C'est un geste », dit-il.",
            ["M. Macron a reçu Mme Aliyeva.", "« C'est un geste », dit-il."],
        ),
        (
            "В 2024 г. Президент сказал, т.е. ничего. Алиев помиловал его.",
            ["В 2024 г. Президент сказал, т.е. ничего.", "Алиев помиловал его."],
        ),
        (
            "Prezident İlham Əliyev əfv sərəncamı imzalayıb. "
            "Sərəncama əsasən 154 nəfər əfv edilib.",
            [
                "Prezident İlham Əliyev əfv sərəncamı imzalayıb.",
                "Sərəncama əsasən 154 nəfər əfv edilib.",
            ],
        ),
        (
            "He said: “We are on the cusp.” Watson agreed.",
            ["He said: “We are on the cusp.”", "Watson agreed."],
        ),
        (
            "The rate rose 3.5 percent. 2024 was worse.",
            ["The rate rose 3.5 percent.", "2024 was worse."],
        ),
        ("It ended etc. and then more.", ["It ended etc. and then more."]),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_every_line_break_ends_a_sentence() -> None:
    text = (
        "While symbolic, the pardon raises a serious question:\nCould this be a reset?\n\nmaybe not"
    )
    assert sentences(text) == [
        "While symbolic, the pardon raises a serious question:",
        "Could this be a reset?",
        "maybe not",
    ]


def test_spans_exclude_surrounding_space() -> None:
    assert sentence_spans("  One.   Two.  ") == [(2, 6), (9, 13)]
    assert sentence_spans("") == []
    assert sentence_spans(" \n\t ") == []


@given(st.text(alphabet=st.sampled_from(list("ab AB.!?\n…«»\"' ")), max_size=80))
def test_spans_are_ordered_trimmed_and_cover_every_visible_character(text: str) -> None:
    spans = sentence_spans(text)
    covered: set[int] = set()
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        covered.update(range(start, end))
        previous_end = end
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered
