"""One analysed field of a document: folded and searched once, quoted on demand.

The work per field runs in C (:mod:`service.matching._core`): the text is
folded as :mod:`service.text.folded` says (its separator and letter tables;
a character they do not name is a separator when the reference word pattern
never puts it in a word: not a letter or digit, nor a mark after a letter;
any other sends the whole text to the reference,
:func:`~service.text.normalize.words_and_spans`), searched once by the
automaton, and its sentences (:mod:`service.text.sentences`' rules) found
on first use. A field keeps the hits of topic terms by term (queries read
them); mentions, triggers and events are decided in C from the same pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, cast

from service.domain import Evidence, Match
from service.matching import _core
from service.matching.terms import Hits, TermMatcher, TokenRange
from service.text.folded import FOLDED_LETTERS, SEPARATORS
from service.text.normalize import MARKS, words_and_spans
from service.text.sentences import ABBREVIATIONS

MAX_EVIDENCE = 3


def _reference(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The words of a text the tables cannot fold, joined as the automaton reads them."""
    found, spans = words_and_spans(text)
    return " " + " ".join(found) + " ", spans


RULES = _core.Rules(
    "".join(sorted(SEPARATORS)), MARKS, FOLDED_LETTERS, ABBREVIATIONS, _reference
)


def folded_words(text: str) -> str:
    """``" " + " ".join(words(text)) + " "``, folded in one C pass (tests/test_folded.py)."""
    return _core.scan(RULES, text, None).joined


def record(cls: type[Any]) -> Callable[..., Any]:
    """A maker of ``cls`` values that skips the generated ``__init__`` (Record in _core.c):
    about ten times cheaper for a frozen dataclass, and only for one whose ``__init__``
    does nothing but set its fields."""
    slotted = "__slots__" in vars(cls)
    if not dataclasses.is_dataclass(cls) or not slotted or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: a dataclass that only holds its fields")
    return _core.Record(cls, tuple(f.name for f in dataclasses.fields(cls)))


EVIDENCE = cast(Callable[[str, str, tuple[tuple[int, int], ...]], Evidence], record(Evidence))
MATCH = cast(Callable[[str, str, str, tuple[Evidence, ...], tuple[str, ...]], Match], record(Match))


class Field:
    """One field of a document (title, summary or content) and the terms found in it."""

    __slots__ = ("hits", "name", "scan", "text")

    def __init__(self, name: str, text: str, matcher: TermMatcher) -> None:
        self.name = name
        self.text = text
        self.scan = _core.scan(RULES, text, matcher.automaton)
        self.hits: Hits = self.scan.hits  # topic terms only: what queries read

    def span(self, token: int) -> tuple[int, int]:
        """The offsets in the text of word number ``token``."""
        return self.scan.span(token)

    def sentence_of(self, token: int) -> tuple[int, int]:
        """The offsets of the sentence holding the start of word number ``token``."""
        return self.scan.sentence(token)

    def evidence(self, ranges: Iterable[TokenRange]) -> Evidence:
        """The sentence(s) holding ``ranges``, with those words marked (nested ones once)."""
        sentence, spans = self.scan.evidence(tuple(ranges))
        return EVIDENCE(self.name, sentence, spans)

    def per_sentence(self, ranges: Iterable[TokenRange]) -> list[Evidence]:
        """One evidence item per sentence holding ``ranges``, in text order (MAX_EVIDENCE)."""
        name = self.name
        return [EVIDENCE(name, s, spans) for s, spans in self.scan.per_sentence(tuple(ranges))]
