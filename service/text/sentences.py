"""Sentence spans for news text in English, French, Azerbaijani and Russian.

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


def sentence_around(text: str, offset: int) -> Span:
    """The span of :func:`sentence_spans` that holds the word starting at ``offset``
    (the reference the classifier's line-by-line reading is tested against).

    Only the text near ``offset`` is read: a boundary never covers a letter or
    digit, so scanning from one finds the boundaries a scan from the start
    finds after it.
    """
    start = _sentence_start(text, offset)
    for match in _BOUNDARY_RE.finditer(text, offset):
        if _ends_sentence(text, match):
            end = match.end()
            break
    else:
        end = len(text)
    span = _trimmed(text, start, end)
    return span if span is not None else (offset, offset)


def _sentence_start(text: str, offset: int) -> int:
    """Where the sentence holding ``offset`` starts, looking back further until it is found."""
    reach = _LOOK_BACK
    while True:
        scan = _word_start(text, max(0, offset - reach), offset)
        start = None
        for match in _BOUNDARY_RE.finditer(text, scan):
            if match.start() >= offset:
                break
            if _ends_sentence(text, match):
                start = match.end()
        if start is not None or scan == 0:
            return start or 0
        reach *= 4


def _word_start(text: str, pos: int, limit: int) -> int:
    """The first offset from ``pos`` that holds a letter or digit (at most ``limit``), or 0."""
    while 0 < pos < limit and not text[pos].isalnum():
        pos += 1
    return pos


_LOOK_BACK = 150


def sentence_ends(text: str) -> list[Span]:
    """The (start, end) offsets of every boundary of ``text`` that ends a sentence."""
    return [m.span() for m in _BOUNDARY_RE.finditer(text) if _ends_sentence(text, m)]


def sentence_ends_within(text: str, start: int, stop: int) -> list[Span]:
    """The boundaries that end a sentence and start in [start, stop) (``start``: not inside
    a boundary, e.g. a word's start or just after a line break)."""
    found: list[Span] = []
    for match in _BOUNDARY_RE.finditer(text, start):
        if match.start() >= stop:
            break
        if _ends_sentence(text, match):
            found.append(match.span())
    return found


def trimmed(text: str, start: int, end: int, offset: int) -> Span:
    """[start, end) of ``text`` without surrounding space; (offset, offset) if only space."""
    span = _trimmed(text, start, end)
    return span if span is not None else (offset, offset)


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
