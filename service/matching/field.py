"""One analysed field of a document: its term occurrences, then offsets and sentences on demand.

A field is folded and searched once (:class:`~service.matching.terms.TermMatcher`);
deciding what matched needs only the token ranges found. The offsets of a
word in the original text, and the sentence holding it, are computed only
for the words an event or a piece of evidence asks about: a few sentences
are looked for one by one around their word; past that, every sentence end
of the field is found in one pass and the rest are bisections.
"""

from __future__ import annotations

from collections.abc import Iterable

from service.domain import Evidence
from service.matching.terms import Hits, TermMatcher, TokenRange
from service.text.folded import FoldedText
from service.text.sentences import SentenceIndex, Span, sentence_around

MAX_EVIDENCE = 3
_LOOKUPS_BEFORE_SPLITTING = 4  # sentences looked for one by one before splitting the field


class Field:
    """One field of a document (title, summary or content) and the terms found in it."""

    def __init__(self, name: str, text: str, matcher: TermMatcher) -> None:
        self.name = name
        self.text = text
        self._folded = FoldedText(text)
        found = matcher.find_joined(self._folded.joined)
        self.hits: Hits = found.hits
        self._starts = found.starts  # where each word that a hit begins or ends with starts
        self._spans: dict[int, Span] = {}  # word number -> its offsets
        self._sentences: dict[int, Span] = {}  # word number -> its sentence
        self._index: SentenceIndex | None = None  # every sentence end, once many are asked
        self._lookups = 0  # sentences looked for one by one

    def span(self, token: int) -> Span:
        """The offsets in the text of word number ``token`` (one that starts or ends a hit)."""
        span = self._spans.get(token)
        if span is None:
            span = self._spans[token] = self._folded.span(token, self._starts[token])
        return span

    def sentence_of(self, token: int) -> Span:
        """The sentence holding word number ``token``: its span stands for it (ordered, unique)."""
        sentence = self._sentences.get(token)
        if sentence is None:
            offset = self.span(token)[0]
            if self._index is None and self._lookups < _LOOKUPS_BEFORE_SPLITTING:
                self._lookups += 1
                sentence = sentence_around(self.text, offset)
            else:
                sentence = self._sentence_index().around(offset)
            self._sentences[token] = sentence
        return sentence

    def _sentence_index(self) -> SentenceIndex:
        if self._index is None:
            self._index = SentenceIndex(self.text)
        return self._index

    def evidence(self, ranges: Iterable[TokenRange]) -> Evidence:
        """The sentence(s) holding ``ranges``, with those words marked (nested ones once)."""
        ranges = _outermost(ranges)
        start = self.sentence_of(ranges[0][0])[0]
        end = max(self.sentence_of(last - 1) for _, last in ranges)[1]
        spans = tuple((self.span(a)[0] - start, self.span(b - 1)[1] - start) for a, b in ranges)
        return Evidence(self.name, self.text[start:end], spans)

    def per_sentence(self, ranges: Iterable[TokenRange]) -> list[Evidence]:
        """One evidence item per sentence holding ``ranges``, in text order (MAX_EVIDENCE)."""
        groups: dict[Span, list[TokenRange]] = {}
        for token_range in sorted(ranges):  # text order: sentences come in order
            sentence = self.sentence_of(token_range[0])
            if sentence not in groups and len(groups) == MAX_EVIDENCE:
                break  # the sentences after these are not quoted
            groups.setdefault(sentence, []).append(token_range)
        return [self.evidence(g) for _, g in sorted(groups.items())]


def _outermost(ranges: Iterable[TokenRange]) -> list[TokenRange]:
    """The ranges not nested in another one, sorted."""
    unique = sorted(set(ranges), key=lambda r: (r[0], -r[1]))
    kept: list[TokenRange] = []
    for r in unique:
        if not kept or r[1] > kept[-1][1]:
            kept.append(r)
    return kept
