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

from service.stories._segments import split
from service.stories.shingles import normalise

REPOST_MIN_WORDS = 25
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


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


def segments(text: str) -> list[Segment]:
    """The segments of ``text`` that have words, in order.

    A segment ends at a line break or after a sentence's end (. ! ? … 。！？,
    then closing quotes or brackets, then a space; abbreviations may split:
    harmless); its fingerprint is xxh3 of its words joined by spaces, digit
    runs folded to "0", as a signed 64-bit integer. One pass in C over the
    normalised text (``_segments``): an article has dozens of segments.
    """
    return split(normalise(mask_urls(text)), Segment, xxh3_64_intdigest)


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
