"""Sentence spans for news text in English, French, Azerbaijani and Russian.

The classifier finds sentences in C (``find_sentences`` in
:mod:`service.matching._core`), rule for rule as here; this module is the
reference it is tested against (tests/test_folded.py) and what the plain
reference classifier reads.

Events are recognised per sentence and evidence quotes a sentence, so the
splitter errs on the side of not splitting: a period after a known
abbreviation ("Mr.", "M.", "Gen.", "г."), after an initial ("J. Smith") or
inside a dotted abbreviation ("U.S.", "т.е.") never ends a sentence. A
sentence ends at ``. ! ? …`` (and closing quotes or brackets) followed by
space and a word that does not start in lowercase, and at every line break.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

ABBREVIATIONS = frozenset(
    {
        # English
        "mr", "mrs", "ms", "dr", "prof", "st", "gen", "col", "lt", "sgt", "capt", "cmdr",
        "adm", "gov", "sen", "rep", "pres", "rev", "jr", "sr", "inc", "corp", "ltd", "co",
        "vs", "etc", "vol", "fig", "approx", "dept", "mt", "ft",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        # French
        "m", "mm", "mme", "mmes", "mlle", "mlles", "av", "bd", "cf", "env",
        # Azerbaijani
        "akad", "məs", "küç",
        # Russian
        "г", "гг", "т", "е", "д", "им", "ул", "пр", "стр", "см", "др", "проф", "акад",
        "тыс", "млн", "млрд", "руб", "долл", "янв", "февр", "авг", "сент", "окт", "нояб",
        "дек", "тов", "гр", "кв", "обл", "р",
    }
)  # fmt: skip

# A line break, or terminal punctuation, closing quotes/brackets, then space(s) or the end;
# group 1: the punctuation after the first character. Starting with a character class lets
# re skip to candidates in C without trying a match at every character (3x faster).
_BOUNDARY_RE = re.compile(r"[.!?…。！？\n](?:(?<=\n)|([.!?…。！？]*)[\"'»”’)\]]*(?:\s+|$))")
_LONGEST_WORD = 24  # how far back to look for the word before a period


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the single period at ``dot`` closes an abbreviation or initial."""
    before = text[max(0, dot - _LONGEST_WORD) : dot].split()
    if not before or before[-1] != text[dot - len(before[-1]) : dot]:
        return False
    word = before[-1].lstrip("\"'«“‘„([")
    if "." in word:  # U.S., т.е., J.-C.
        return True
    return (len(word) == 1 and word.isalpha()) or word.casefold() in ABBREVIATIONS


def _starts_sentence(text: str, pos: int) -> bool:
    return pos >= len(text) or not text[pos].islower()


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if "\n" in match.group():
        return True
    if not _starts_sentence(text, match.end()):
        return False
    dot = match.start()  # a single period: the punctuation is "." and nothing after it
    return text[dot] != "." or match.group(1) != "" or not _is_abbreviation(text, dot)


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def sentence_ends(text: str) -> list[Span]:
    """The (start, end) offsets of every boundary of ``text`` that ends a sentence."""
    return [m.span() for m in _BOUNDARY_RE.finditer(text) if _ends_sentence(text, m)]


def sentence_spans(text: str) -> list[Span]:
    """The (start, end) offsets of every sentence of ``text``, without surrounding space."""
    spans: list[Span] = []
    start = 0
    for _, end in sentence_ends(text):
        span = _trimmed(text, start, end)
        if span is not None:
            spans.append(span)
        start = end
    last = _trimmed(text, start, len(text))
    if last is not None:
        spans.append(last)
    return spans
