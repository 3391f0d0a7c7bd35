"""One analysed field of a document: its term occurrences, then offsets and sentences on demand.

A field is folded and searched once (:class:`~service.matching.terms.TermMatcher`);
deciding what matched needs only the token ranges found. The offsets of a
word in the original text, and the sentence holding it, are computed only
for the words an event or a piece of evidence asks about, reading only the
lines that hold them (a line break always ends a sentence).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from service.domain import Evidence
from service.matching.terms import Hits, TermMatcher, TokenRange
from service.text.folded import FoldedText
from service.text.sentences import Span, sentence_ends_within, trimmed

MAX_EVIDENCE = 3
_LINE_BREAK = re.compile("\n")
_NO_END = 1 << 62  # more words than any text holds


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
        self._lines: Lines | None = None

    def span(self, token: int) -> Span:
        """The offsets in the text of word number ``token`` (one that starts or ends a hit)."""
        span = self._spans.get(token)
        if span is None:
            span = self._spans[token] = self._folded.span(token, self._starts[token])
        return span

    @property
    def lines(self) -> Lines:
        """The field's lines and sentences, read as asked."""
        if self._lines is None:
            self._lines = Lines(self.text, self._folded)
        return self._lines

    def sentence_of(self, token: int) -> Span:
        """The sentence holding word number ``token``: its span stands for it (ordered, unique)."""
        sentence = self._sentences.get(token)
        if sentence is None:
            sentence = self._sentences[token] = self.lines.sentence_around(
                token, self.span(token)[0]
            )
        return sentence

    def evidence(self, ranges: Iterable[TokenRange]) -> Evidence:
        """The sentence(s) holding ``ranges``, with those words marked (nested ones once)."""
        sentence_of, span = self.sentence_of, self.span
        ranges = _outermost(ranges)
        start = sentence_of(ranges[0][0])[0]
        if len(ranges) == 1:  # most evidence: one name in its sentence
            (first, after), *_ = ranges
            end = sentence_of(after - 1)[1]
            spans: tuple[Span, ...] = ((span(first)[0] - start, span(after - 1)[1] - start),)
        else:
            end = max(sentence_of(last - 1) for _, last in ranges)[1]
            spans = tuple((span(a)[0] - start, span(b - 1)[1] - start) for a, b in ranges)
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


def _outer_first(r: TokenRange) -> tuple[int, int]:
    return r[0], -r[1]


def _outermost(ranges: Iterable[TokenRange]) -> list[TokenRange]:
    """The ranges not nested in another one, sorted."""
    unique = sorted(set(ranges), key=_outer_first)
    if len(unique) == 1:
        return unique
    kept: list[TokenRange] = []
    for r in unique:
        if not kept or r[1] > kept[-1][1]:
            kept.append(r)
    return kept


class Lines:
    """A field's lines and, line by line as asked, its sentences.

    A line break always ends a sentence, so the sentence of a word is found
    by reading its line alone. Sentence ends are also counted in words
    (:meth:`FoldedText.words_before`), so telling whether two words share a
    sentence needs no offsets.
    """

    def __init__(self, text: str, folded: FoldedText) -> None:
        self._text = text
        self._folded = folded
        self._breaks = [m.start() for m in _LINE_BREAK.finditer(text)]
        self._before = folded.words_before(self._breaks)  # words before each line break
        self._ends: dict[int, list[Span]] = {}  # line number -> its sentence ends
        self._end_words: dict[int, list[int]] = {}  # line number -> words before each end

    def line(self, token: int) -> int:
        """The number of the line holding word ``token``."""
        return bisect_right(self._before, token)

    def words(self, line: int) -> tuple[int, int]:
        """The words of line number ``line``: [first, last + 1)."""
        before = self._before
        return (before[line - 1] if line else 0), (before[line] if line < len(before) else _NO_END)

    def sentence(self, line: int, token: int) -> int:
        """The number, within its line ``line``, of the sentence holding word ``token``."""
        words = self._end_words.get(line)
        if words is None:
            starts = [start for start, _ in self._line_ends(line)]
            words = self._end_words[line] = self._folded.words_before(starts)
        return bisect_right(words, token)

    def sentence_around(self, token: int, offset: int) -> Span:
        """The sentence of word ``token``, which starts at ``offset`` (as sentence_around)."""
        line = bisect_right(self._before, token)
        ends = self._line_ends(line)
        number = bisect_right(ends, (offset, offset))  # ends never start at a word
        start = ends[number - 1][1] if number else self._start(line)
        if number < len(ends):
            end = ends[number][1]
        else:
            end = self._breaks[line] + 1 if line < len(self._breaks) else len(self._text)
        return trimmed(self._text, start, end, offset)

    def _start(self, line: int) -> int:
        return self._breaks[line - 1] + 1 if line else 0

    def _line_ends(self, line: int) -> list[Span]:
        ends = self._ends.get(line)
        if ends is None:
            stop = self._breaks[line] if line < len(self._breaks) else len(self._text)
            ends = self._ends[line] = sentence_ends_within(self._text, self._start(line), stop)
        return ends
