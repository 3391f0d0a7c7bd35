"""Boilerplate: the lines a feed repeats across its entries, removed before shingling.

Subscription footers, "Follow us on ...", copyright lines: shared by every
entry of one outlet, they would make two different short stories of that
outlet look alike. A segment (a sentence or a line) is boilerplate for a feed
once another entry of the same feed carried it; storage remembers which
segments each feed has seen, this module only cuts text into segments and
removes the known ones. When removal would leave almost nothing (an entry
that repeats an earlier one of its feed), the text is kept whole.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from xxhash import xxh64_intdigest

from service.stories.shingles import tokens
from service.text.sentences import sentence_spans

MIN_WORDS_LEFT = 8
_SIGNED = 1 << 63


@dataclass(frozen=True, slots=True)
class Segment:
    """One sentence or line: its text and a fingerprint of its normalised words."""

    text: str
    fingerprint: int  # signed 64-bit, fits a BIGINT


def fingerprint(word_list: list[str]) -> int:
    return xxh64_intdigest(" ".join(word_list).encode()) - _SIGNED


def segments(text: str) -> list[Segment]:
    """The segments of ``text`` that have words, in order."""
    found: list[Segment] = []
    for start, end in sentence_spans(text):
        word_list = tokens(text[start:end])
        if word_list:
            found.append(Segment(text[start:end], fingerprint(word_list)))
    return found


def strip_boilerplate(parts: list[Segment], boilerplate: Set[int]) -> str:
    """The text without its boilerplate segments (whole if too little would remain)."""
    kept = [s.text for s in parts if s.fingerprint not in boilerplate]
    stripped = "\n".join(kept)
    if len(kept) == len(parts) or len(tokens(stripped)) >= MIN_WORDS_LEFT:
        return stripped
    return "\n".join(s.text for s in parts)
