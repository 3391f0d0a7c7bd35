"""The C pass against the reference on texts made to hurt: mixed scripts, accents in both
normal forms, ligatures, dotted and dotless I, ё, abbreviations, quotes, zero-width and
no-break spaces, line breaks, and any Unicode at all.

The corpus comparison (test_classifier_reference) holds the classifier to the semantics
on real news; these examples reach the corners real news rarely does, where a C loop
would read past a buffer or split a word differently from the plain reading.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.config.models import Watchlists
from service.domain import Document
from service.matching import compile_watchlists
from tests import reference_classifier

WORDS = [
    "Théo", "THEO", "Clerc", "Aliyev", "Əliyev", "İlham", "ILHAM", "ılık", "Алиев", "Алиеву",
    "ёлка", "елка", "pardon", "pardoned", "Pardons", "grâce", "gracié", "U.S.", "M.", "Mr.",
    "Baku", "Paris", "straße", "STRASSE", "ﬁre", "fire", "Ⅻ", "東京", "日本", "x", "a",
    "Macron", "l'Élysée", "d’Azerbaïdjan", "co-operation", "2024", "3.5",
]
SEPARATORS = [
    " ", " ", " ", ". ", "! ", "? ", ", ", "\n", "\n\n", " — ", " «", "» ", "“", "” ",
    "\u00a0", "\u200b", "-", "…", "(", ") ", ": ", "; ", "\t",
]
TERM_WORDS = [w for w in WORDS if any(c.isalpha() for c in w) and "." not in w]


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        word = draw(st.sampled_from(WORDS) | st.text(min_size=1, max_size=3))
        parts.append(word)
        parts.append(draw(st.sampled_from(SEPARATORS)))
    text = "".join(parts)
    return unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD", "NFKC"])), text)


def _term(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(TERM_WORDS), min_size=1, max_size=2))
    return " ".join(words) + draw(st.sampled_from(["", "", "*"]))


@st.composite
def watchlists(draw: st.DrawFn) -> Watchlists:
    entities: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 4))):
        entity: dict[str, Any] = {"id": f"e{i}", "name": _term(draw).rstrip("*")}
        aliases = [_term(draw) for _ in range(draw(st.integers(0, 3)))]
        if aliases:
            entity["aliases"] = aliases
        if draw(st.booleans()):
            entity["exclude"] = [_term(draw).rstrip("*") + " " + entity["name"]]
        entities.append(entity)
    events = [
        {"id": f"v{i}", "triggers": [_term(draw) for _ in range(draw(st.integers(1, 3)))],
         **({"window": draw(st.integers(1, 6))} if draw(st.booleans()) else {})}
        for i in range(draw(st.integers(1, 2)))
    ]
    topics = [{"id": "t0", "query": f'"{_term(draw).rstrip("*")}" OR {_term(draw).split()[0]}'}]
    return Watchlists.model_validate({"entities": entities, "events": events, "topics": topics})


@settings(max_examples=300, deadline=None)
@given(watch=watchlists(), title=texts(), summary=texts(), content=texts())
def test_made_up_texts_classify_as_the_reference(
    watch: Watchlists, title: str, summary: str, content: str
) -> None:
    doc = Document(title, summary, content)
    assert compile_watchlists(watch).classify(doc) == reference_classifier.classify(watch, doc)


@settings(max_examples=300, deadline=None)
@given(watch=watchlists(), title=st.text(max_size=40), content=st.text(max_size=400))
def test_any_unicode_classifies_as_the_reference(
    watch: Watchlists, title: str, content: str
) -> None:
    doc = Document(title, "", content)
    assert compile_watchlists(watch).classify(doc) == reference_classifier.classify(watch, doc)
