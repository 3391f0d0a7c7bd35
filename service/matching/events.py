"""Events: a trigger near a mention of a watched entity, and the entities that take part.

An event matches when a trigger stands in the same sentence as a mention of
any watched entity (or, with ``window: N``, at most N word positions away
from it, across sentences: adjacent words are 1 apart); those entities are
its participants. A mention overlapping the trigger itself does not count.

Deciding needs the sentence of each trigger (the mentions in it are a slice
of the field's mentions in text order) or, with a window, only word
positions. The evidence, the trigger with its neighbours marked, is kept as
the occurrences to quote and built on demand.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from service.domain import Evidence
from service.matching.field import MAX_EVIDENCE, Field, Lines
from service.matching.terms import Term, TokenRange

Mentions = dict[str, list[TokenRange]]  # entity id -> its mentions in one field
Mention = tuple[str, TokenRange]
_NONE: list[Mention] = []  # never changed


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    name: str
    triggers: tuple[Term, ...]
    window: int | None
    rank: int = 0  # position in the configuration


class MentionIndex:
    """The entity mentions of one field in text order, to find those near a trigger."""

    def __init__(self, field: Field, mentions: Mentions) -> None:
        flat = [(entity_id, m) for entity_id, ranges in mentions.items() for m in ranges]
        self.flat = sorted(flat, key=lambda item: item[1])
        self._firsts = [m[0] for _, m in self.flat]
        self._longest = max((m[1] - m[0] for _, m in self.flat), default=0)
        self._field = field
        self._by_line: dict[int, dict[int, list[Mention]]] = {}  # line -> its sentences
        self._lines: Lines | None = None  # the field's, once a trigger asks

    def near(self, trigger: TokenRange, window: int | None) -> list[Mention]:
        """The mentions close enough to ``trigger`` to take part, in text order."""
        start, end = trigger
        if window is None:
            candidates = self._in_sentence_of(start)
            if not candidates:
                return candidates
            return [(e, m) for e, m in candidates if not (start < m[1] and m[0] < end)]
        low = bisect_left(self._firsts, start - window + 1 - self._longest)
        high = bisect_right(self._firsts, end + window - 1)
        return [
            (e, m)
            for e, m in self.flat[low:high]
            if not (start < m[1] and m[0] < end) and max(m[0] - end, start - m[1]) < window
        ]

    def _in_sentence_of(self, token: int) -> list[Mention]:
        """The mentions that start in the sentence of word ``token``, in text order.

        A line break always ends a sentence: the mentions of a line are
        grouped by sentence the first time a trigger on it asks.
        """
        lines = self._lines
        if lines is None:
            lines = self._lines = self._field.lines
        line = lines.line(token)
        groups = self._by_line.get(line)
        if groups is None:
            groups = self._by_line[line] = self._group(lines, line)
        return groups.get(lines.sentence(line, token), _NONE) if groups else _NONE

    def _group(self, lines: Lines, line: int) -> dict[int, list[Mention]]:
        """The mentions that start on line number ``line``, by sentence number."""
        groups: dict[int, list[Mention]] = {}
        first, last = lines.words(line)
        low, high = bisect_left(self._firsts, first), bisect_left(self._firsts, last)
        for mention in self.flat[low:high]:
            groups.setdefault(lines.sentence(line, mention[1][0]), []).append(mention)
        return groups


@dataclass(frozen=True, slots=True)
class EventFound:
    """An event's participants, and the triggers with their neighbours to quote."""

    participants: tuple[str, ...]
    quotes: tuple[tuple[Field, TokenRange, tuple[TokenRange, ...]], ...]

    def evidence(self) -> tuple[Evidence, ...]:
        return tuple(field.evidence([trigger, *near]) for field, trigger, near in self.quotes)


def find_event(
    event: Event,
    fields: Sequence[Field],
    triggers: dict[str, dict[str, list[TokenRange]]],
    mentions: dict[str, MentionIndex],
    mentioned: int,
) -> EventFound | None:
    """``event`` in ``fields``, or None without a participant; ``mentioned``: how many
    entities are mentioned at all (once all take part, only evidence is left to find)."""
    participants: set[str] = set()
    quotes: list[tuple[Field, TokenRange, tuple[TokenRange, ...]]] = []
    for field, trigger, near in _occurrences(event, fields, triggers, mentions):
        participants.update(entity_id for entity_id, _ in near)
        if len(quotes) < MAX_EVIDENCE:
            quotes.append((field, trigger, tuple(m for _, m in near)))
        elif len(participants) == mentioned:
            break  # nothing left to learn
    if not participants:
        return None
    return EventFound(tuple(sorted(participants)), tuple(quotes))


def _occurrences(
    event: Event,
    fields: Sequence[Field],
    triggers: dict[str, dict[str, list[TokenRange]]],
    mentions: dict[str, MentionIndex],
) -> Iterator[tuple[Field, TokenRange, list[Mention]]]:
    """Each trigger occurrence with the entity mentions near it, if any, in text order."""
    for field in fields:
        field_mentions = mentions[field.name]
        if not field_mentions.flat:
            continue
        for trigger in triggers[field.name].get(event.id, ()):
            near = field_mentions.near(trigger, event.window)
            if near:
                yield field, trigger, near
