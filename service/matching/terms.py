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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, count
from operator import add

import ahocorasick

from service.text.normalize import normalize_term

TokenRange = tuple[int, int]  # [first word, last word + 1) in a token list


@dataclass(frozen=True, slots=True)
class Term:
    """A watch term as normalised words; ``prefix``: the last word may have any ending."""

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
            self._automaton.add_word(pattern, (term, len(pattern) - 1, len(term.words)))
        self.term_count = len(self._automaton)
        self._empty = self.term_count == 0
        if not self._empty:
            self._automaton.make_automaton()

    def find(self, words: Sequence[str]) -> Hits:
        """Each term found in ``words`` with the token ranges of its occurrences, in order."""
        if self._empty or not words:
            return {}
        joined = " " + " ".join(words) + " "
        found = list(self._automaton.iter(joined))
        first_word = _locator(joined, words, len(found))
        hits: Hits = {}
        for end, (term, back, size) in found:
            first = first_word(end - back)
            hits.setdefault(term, []).append((first, first + size))
        return hits


def _locator(joined: str, words: Sequence[str], hits: int) -> Callable[[int], int]:
    """Maps the offset in ``joined`` of the space before a word to the word's index.

    Few hits: count the spaces before it (words hold none); more: one dict
    from every word's offset, built at C speed (the space before word i is at
    the length of the words before it, plus i).
    """
    if hits <= _FEW_HITS:
        return lambda offset: joined.count(" ", 0, offset)
    lengths = accumulate(map(len, words), initial=0)
    return dict(zip(map(add, lengths, count()), count())).__getitem__


_FEW_HITS = 8
