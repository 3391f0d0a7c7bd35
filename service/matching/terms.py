"""Every watch term found in one pass: one Aho-Corasick automaton over normalised words.

Names, aliases, exclude phrases, event triggers and topic query words are all
:class:`Term` values compiled into one Aho-Corasick automaton. It is our own,
in C (:mod:`service.matching._core`), not pyahocorasick as issue 4 first
named: pyahocorasick's walk and the Python tuple it makes per hit cost about
a third of the issue's budget per article at 10,000 terms, the C walk a tenth
of that, and the hits never become Python objects. The text is searched as its
normalised words joined by single spaces, with a space at both ends; a term is
the pattern ``" w1 w2 "``, or ``" w1 w2"`` when its last word is a prefix, so
every match starts at a word start and, unless a prefix, ends at a word end.
Overlapping and nested terms ("Ilham Aliyev" and "Aliyev") are all reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple

from service.matching import _core
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
    """Finds every occurrence of a fixed set of terms in normalised words.

    Each term has a number (its position in :attr:`terms`); the automaton's
    value for a term is ``(term, word count, number, is a topic term)``, what
    the C pass (:mod:`service.matching._core`) needs per hit.
    """

    def __init__(self, terms: Iterable[Term], topic_terms: Collection[Term] = ()) -> None:
        self.terms = tuple(dict.fromkeys(terms))
        self.numbers = {term: number for number, term in enumerate(self.terms)}
        self._automaton = _core.Automaton(
            [term.pattern for term in self.terms],
            tuple((t, len(t.words), n, t in topic_terms) for n, t in enumerate(self.terms)),
        )
        self.term_count = len(self.terms)
        self.nodes = self._automaton.nodes
        self.size = self._automaton.size  # bytes

    @property
    def automaton(self) -> _core.Automaton | None:
        """The automaton, or None when there is no term to find."""
        return self._automaton if self.term_count else None

    def find(self, words: Sequence[str]) -> Hits:
        """Each term found in ``words`` with the token ranges of its occurrences, in order."""
        if not self.term_count or not words:
            return {}
        hits: Hits = _core.find(self._automaton, " " + " ".join(words) + " ")
        return hits
