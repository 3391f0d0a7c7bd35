"""Events: a trigger near a mention of a watched entity, and the entities that take part.

An event matches when a trigger stands in the same sentence as a mention of
any watched entity (or, with ``window: N``, at most N word positions away
from it, across sentences: adjacent words are 1 apart); those entities are
its participants. A mention overlapping the trigger itself does not count.
The evidence quotes the first :data:`~service.matching.field.MAX_EVIDENCE`
trigger occurrences that have a participant, each with its neighbours marked.

Deciding runs in C over word numbers (``decide`` in
:mod:`service.matching._core`): every trigger occurrence of an article is
compared with the mentions of its field, ~40 against ~12 per article at
10,000 terms, too many for Python within issue 4's budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.matching.terms import Term


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    name: str
    triggers: tuple[Term, ...]
    window: int | None
    rank: int = 0  # position in the configuration
