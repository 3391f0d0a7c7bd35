"""Re-posts: an outlet publishing one of its own entries again.

Boilerplate removal (``service.stories.boilerplate``) drops every segment
its feed carried before. A re-post from the same feed, under a new GUID and
URL, with a dateline or a new lead sentence added and the title marked
("UPDATE 1-...", "... (copy)"), would then keep only its new lead and title,
start a story of its own and alert again. What the rule must not take for a
re-post is a footer: two different short stories of one outlet share it, and
it may outweigh their texts. So an entry re-posts an earlier entry E of its
feed when both hold:

- the text segments E carried first hold at least ``REPOST_MIN_WORDS`` words
  and at least ``REPOST_SHARE`` of the words of its text, the last line of a
  text of several lines left out of both counts: a footer sits there;
- its title is like E's: the two titles' word sets have a Jaccard similarity
  of at least ``TITLE_SIMILARITY`` ("UPDATE 1-" or "(copy)" added keeps it).

A footer on a line of its own fails the first test, and any footer fails the
second between stories under different titles. What the rule cannot tell
from a re-post: entries of one outlet under titles alike, of one line each,
sharing a footer at the end of that line longer than their own text.

A re-post keeps the segments E carried first (its boilerplate is only what
other entries carried), so the near-copy check finds E's story. Only the
entry that carried a segment first is known (storage keeps no more), so a
second re-post is judged against the first entry, as the first re-post was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from service.stories.boilerplate import Segment, segments

REPOST_MIN_WORDS = 15  # fewer than the 25 a re-post under any title needs: the title vouches
REPOST_SHARE = 0.5
TITLE_SIMILARITY = 0.5


def last_line_parts(text: str) -> int:
    """How many segments of ``text`` are its last line, when it has several (else 0)."""
    lines = text.strip().rsplit("\n", 1)
    return len(segments(lines[1])) if len(lines) == 2 else 0


def origin(
    parts: Sequence[Segment], owners: Mapping[int, int], title_parts: int, tail_parts: int = 0
) -> int | None:
    """The earlier entry this one may re-post: the one whose segments make up most
    of its text (see the module's first rule), if any.

    ``owners``: fingerprint -> the other entry of the feed that carried it first;
    ``parts[-tail_parts:]`` are the last line of the text.
    """
    total = 0
    by_entry: Counter[int] = Counter()
    for segment in parts[title_parts : len(parts) - tail_parts]:
        total += len(segment.words)
        first = owners.get(segment.fingerprint)
        if first is not None:
            by_entry[first] += len(segment.words)
    if not by_entry:
        return None
    words, entry = max((n, -e) for e, n in by_entry.items())  # ties: the oldest entry
    if words >= REPOST_MIN_WORDS and words >= REPOST_SHARE * total:
        return -entry
    return None


def titles_alike(one: Sequence[str], other: Sequence[str]) -> bool:
    """Whether two titles' words overlap enough for one to be the other re-posted."""
    a, b = set(one), set(other)
    if not a or not b:
        return False
    return len(a & b) >= TITLE_SIMILARITY * len(a | b)


def title_words(parts: Sequence[Segment], title_parts: int) -> list[str]:
    return [word for segment in parts[:title_parts] for word in segment.words]


def feed_boilerplate(
    parts: Sequence[Segment], owners: Mapping[int, int], title_parts: int, tail_parts: int,
    titles: Mapping[int, Sequence[str]],
) -> set[int]:
    """The fingerprints to remove before shingling: every segment the feed carried
    before (``owners``), except, for a re-post, those its origin carried first.

    ``titles``: the title words of earlier entries (at least of the origin's).
    """
    source = origin(parts, owners, title_parts, tail_parts)
    if source is not None and source in titles and titles_alike(
            title_words(parts, title_parts), titles[source]):
        return {value for value, first in owners.items() if first != source}
    return set(owners)
