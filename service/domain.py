"""Domain values shared by the pipeline stages: frozen, no I/O, no ORM."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Literal

MatchKind = Literal["topic", "entity", "event"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as parsed from a feed, before it is stored.

    Text fields are plain text (HTML stripped, entities decoded); ``url`` is
    absolute http(s) or None; ``published`` is timezone-aware UTC or None.
    """

    guid: str | None
    url: str | None
    title: str
    summary: str
    content: str
    published: datetime | None = None
    author: str | None = None

    def __reduce__(self) -> tuple[type[FeedEntry], tuple[object, ...]]:
        """Pickled as its fields in order: parse workers send a changed feed's
        entries to the poller, which unpickles these in half the time of a
        slotted dataclass's state (bench_poller)."""
        return (FeedEntry, _ENTRY_FIELDS(self))


_ENTRY_FIELDS = attrgetter(*(f.name for f in fields(FeedEntry)))


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What the parse stage made of one fetched body."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    bozo: bool = False
    bozo_message: str | None = None
    hub: str | None = None  # <link rel="hub">: a WebSub hub pushes this feed
    self_url: str | None = None  # <link rel="self">: the topic URL to subscribe to


@dataclass(frozen=True, slots=True)
class Document:
    """The text of an article as the classifier sees it (plain text)."""

    title: str
    summary: str
    content: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """The sentence that caused a match, with the matched words marked.

    ``spans`` are (start, end) character offsets of the matched words inside
    ``sentence``; ``field`` is title, summary or content.
    """

    field: str
    sentence: str
    spans: tuple[tuple[int, int], ...]

    def marked(self, before: str = "**", after: str = "**") -> str:
        """The sentence with every matched span wrapped in before/after."""
        out: list[str] = []
        pos = 0
        for start, end in sorted(self.spans):
            if start < pos:
                continue
            out.append(self.sentence[pos:start])
            out.append(before + self.sentence[start:end] + after)
            pos = end
        out.append(self.sentence[pos:])
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Match:
    """One topic, entity or event that an article matched, and why."""

    kind: MatchKind
    id: str
    name: str
    evidence: tuple[Evidence, ...] = ()
    participants: tuple[str, ...] = ()  # entity ids taking part (events only)


@dataclass(frozen=True, slots=True)
class Classification:
    """Everything an article matched."""

    matches: tuple[Match, ...] = field(default_factory=tuple)

    def ids(self, kind: MatchKind) -> frozenset[str]:
        return frozenset(m.id for m in self.matches if m.kind == kind)

    def get(self, kind: MatchKind, id_: str) -> Match | None:
        return next((m for m in self.matches if m.kind == kind and m.id == id_), None)
