"""Every watch term found in one pass: one Aho-Corasick automaton over normalised words.

Names, aliases, exclude phrases, event triggers and topic query words are all
:class:`Term` values compiled into one pyahocorasick automaton (MEASURED.md:
about 10,000 articles/s, no missed nested terms). The text is searched as its
normalised words joined by single spaces, with a space at both ends; a term is
the pattern ``" w1 w2 "``, or ``" w1 w2"`` when its last word is a prefix, so
every match starts at a word start and, unless a prefix, ends at a word end.
Overlapping and nested terms ("Ilham Aliyev" and "Aliyev") are all reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from service.text.normalize import normalize_term

TokenRange = tuple[int, int]  # [first word, last word + 1) in a token list


class Term(NamedTuple):
    """A watch term as normalised words; ``prefix``: the last word may have any ending.

    A named tuple, not a dataclass: terms are dict keys in every lookup of the
    classifier (a few hundred per article), and a tuple hashes and compares in C.
    """

    words: tuple[str, ...]
    prefix: bool = False

    @classmethod
    def parse(cls, text: str) -> Term:
        """The term written as ``text`` ("Teo Klerk*"); ValueError if it has no words."""
        found, prefix = normalize_term(text)
        return cls(found, prefix)

    @property
    def pattern(self) -> str:
        """The automaton key: the words between spaces, open-ended if a prefix."""
        return " " + " ".join(self.words) + ("" if self.prefix else " ")


Hits = dict[Term, list[TokenRange]]


class TermMatcher:
    """Finds every occurrence of a fixed set of terms in a list of normalised words."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self._automaton = ahocorasick.Automaton()
        for term in set(terms):
            pattern = term.pattern  # value: what a hit needs, computed once
            last = len(pattern) - len(term.words[-1]) - (0 if term.prefix else 1)
            self._automaton.add_word(pattern, (term, len(pattern) - 1, len(term.words), last))
        self.term_count = len(self._automaton)
        self._empty = self.term_count == 0
        if not self._empty:
            self._automaton.make_automaton()

    def find(self, words: Sequence[str]) -> Hits:
        """Each term found in ``words`` with the token ranges of its occurrences, in order."""
        if self._empty or not words:
            return {}
        return self.find_joined(" " + " ".join(words) + " ").hits

    def find_joined(self, joined: str) -> Found:
        """Each term found in ``joined`` (normalised words between single spaces, and at both
        ends), with the token ranges of its occurrences and where their words start."""
        if self._empty:
            return Found({}, {})
        hits: Hits = {}
        starts: dict[int, int] = {}
        spaces = previous = 0  # spaces in joined[:previous]: hits come by increasing end
        count = joined.count
        for end, (term, back, size, last) in self._automaton.iter(joined):
            spaces += count(" ", previous, end)
            previous = end
            first = spaces - size  # the last word is number spaces - 1
            found = hits.get(term)
            if found is None:
                hits[term] = [(first, spaces)]
            else:
                found.append((first, spaces))
            offset = end - back
            starts[first] = offset + 1
            starts[spaces - 1] = offset + last
        return Found(hits, starts)


@dataclass(frozen=True, slots=True)
class Found:
    """What one automaton pass found: ``hits``, and ``starts``: for the first and last word
    of every occurrence, its offset in the searched text."""

    hits: Hits
    starts: dict[int, int]
