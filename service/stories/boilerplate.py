"""Boilerplate: the lines a feed repeats across its entries, removed before shingling.

Subscription footers, "Follow us on ...", copyright lines: shared by every
entry of one outlet, they would make two different short stories of that
outlet look alike. A segment (a line, or a sentence of it) is boilerplate
for a feed once another entry of the same feed carried it; storage
remembers which segments each feed has seen, this module only cuts text
into segments and removes the known ones. Web addresses are masked and
digits folded in the fingerprint, so a templated line ("Points: 12",
"Article URL: https://...") is one segment whatever its numbers and links.
What remains is compared, however short (a templated entry is then told
apart by its title); only an entry whose every segment the feed has carried
before (a re-post) is kept whole, so it still joins its first story.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import NamedTuple

from xxhash import xxh3_64_intdigest

from service.stories.shingles import normalise, words_of

_SIGNED = 1 << 63
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_DIGIT = re.compile(r"[0-9]")
# a line break, or the space after a sentence's end (abbreviations may split: harmless)
_SEGMENT_END = re.compile(r"\s*\n\s*|(?<=[.!?…。！？])[\"'»”’)\]]*\s+")


class Segment(NamedTuple):
    """One sentence or line: its normalised words and their fingerprint.

    (A NamedTuple rather than a frozen dataclass: an article has dozens and
    building them is on the hot path.)
    """

    words: list[str]
    fingerprint: int  # signed 64-bit, fits a BIGINT


def mask_urls(text: str) -> str:
    """Web addresses replaced by one word: they are links, not the story's words."""
    if "http" not in text and "www." not in text:
        return text
    return _URL.sub(" url ", text)


def fingerprint(word_list: list[str]) -> int:
    joined = " ".join(word_list)
    if _DIGIT.search(joined):
        joined = _DIGITS.sub("0", joined)
    return xxh3_64_intdigest(joined.encode()) - _SIGNED


def segments(text: str) -> list[Segment]:
    """The segments of ``text`` that have words, in order."""
    found: list[Segment] = []
    for piece in _SEGMENT_END.split(normalise(mask_urls(text))):
        word_list = words_of(piece)
        if word_list:
            found.append(Segment(word_list, fingerprint(word_list)))
    return found


def strip_boilerplate(parts: list[Segment], boilerplate: Set[int]) -> list[str]:
    """The words without the boilerplate segments (all of them if every segment is)."""
    kept = [s for s in parts if s.fingerprint not in boilerplate] or parts
    return [word for segment in kept for word in segment.words]
