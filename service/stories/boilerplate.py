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
apart by its title); only an entry whose text the feed has carried before
(a re-post, under the same or a new title, with at least
``REPOST_MIN_WORDS`` words of text) is kept whole, so it still joins its
first story.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import NamedTuple

from xxhash import xxh3_64_intdigest

from service.stories.shingles import HAS_UNSPACED, SPACED_WORD, WORD, normalise, words_of

_SIGNED = 1 << 63
REPOST_MIN_WORDS = 25
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_DIGIT = re.compile(r"[0-9]")
_WORD_OR_END = re.compile(WORD.pattern + "|\x00")
_SPACED_WORD_OR_END = re.compile(SPACED_WORD.pattern + "|\x00")
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
    return _fingerprint(" ".join(word_list))


def _fingerprint(joined: str) -> int:
    if _DIGIT.search(joined):
        joined = _DIGITS.sub("0", joined)
    return xxh3_64_intdigest(joined.encode()) - _SIGNED


def segments(text: str) -> list[Segment]:
    """The segments of ``text`` that have words, in order.

    One pass for all words (segment ends marked in the text), then one
    split per segment: an article has dozens of segments.
    """
    normal = normalise(mask_urls(text))
    marked = _SEGMENT_END.sub(" \x00 ", normal)
    spaced = normal.isascii() or not HAS_UNSPACED.search(normal)
    tokens = words_of(marked, _SPACED_WORD_OR_END if spaced else _WORD_OR_END)
    found: list[Segment] = []
    for piece in " ".join(tokens).split("\x00"):
        piece = piece.strip()
        if piece:
            found.append(Segment(piece.split(" "), _fingerprint(piece)))
    return found


def kept_segments(
    parts: list[Segment], boilerplate: Set[int], title_parts: int = 0
) -> list[Segment]:
    """The segments without the boilerplate ones; all of them for a re-post.

    ``parts[:title_parts]`` are the title's. An entry is a re-post when every
    segment of its text (or of the whole entry) was carried before and the
    text is long enough not to be a template.
    """
    kept = [s for s in parts if s.fingerprint not in boilerplate]
    if not kept:
        return parts
    body = parts[title_parts:]
    if (title_parts and body and all(s.fingerprint in boilerplate for s in body)
            and sum(len(s.words) for s in body) >= REPOST_MIN_WORDS):
        return parts
    return kept


def strip_boilerplate(
    parts: list[Segment], boilerplate: Set[int], title_parts: int = 0
) -> list[str]:
    """The words without the boilerplate segments (see ``kept_segments``)."""
    return [word for segment in kept_segments(parts, boilerplate, title_parts)
            for word in segment.words]
