"""The classifier: which watched topics, entities and events an article matches, and why.

:func:`compile_watchlists` turns the watchlists into one :class:`TermMatcher`
(every name, alias, exclude phrase, trigger and query word) and parsed
queries, once per configuration. :meth:`Classifier.classify` then reads each
field of a document once (its normalised words, one automaton pass); word
offsets and sentences are only computed for fields that hold a match, and
everything else is lookups in the occurrences found.

- An entity is mentioned by its name or any alias, except where one of its
  ``exclude`` phrases covers the occurrence.
- An event matches when a trigger stands in the same sentence as a mention of
  any watched entity (or, with ``window: N``, at most N word positions away
  from it, across sentences: adjacent words are 1 apart); those entities are
  its participants. A mention overlapping the trigger itself does not count.
- A topic matches when its query is true.
Each match carries up to :data:`MAX_EVIDENCE` sentences with the words marked.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TypeVar

from service.config.models import EntityConfig, EventConfig, TopicConfig, Watchlists
from service.domain import Classification, Document, Evidence, Match
from service.errors import ConfigError, ConfigProblem, QuerySyntaxError
from service.matching.query import FIELDS, FieldHits, Hit, Query, Requirements, parse_query
from service.matching.terms import Hits, Term, TermMatcher, TokenRange
from service.text.folded import FoldedText
from service.text.sentences import (
    Span,
    sentence_around,
    sentence_ends_between,
    sentence_spans,
)

MAX_EVIDENCE = 3
_LOOKUPS_BEFORE_SPLITTING = 4  # sentences looked for one by one before splitting the field


class _Field:
    """One analysed field of a document; offsets and sentences only computed when asked."""

    def __init__(self, name: str, text: str, matcher: TermMatcher) -> None:
        self.name = name
        self.text = text
        self._folded = FoldedText(text)
        found = matcher.find_joined(self._folded.joined)
        self.hits: Hits = found.hits
        self._starts = found.starts  # where each word that a hit begins or ends with starts
        self._spans: dict[int, Span] = {}  # word number -> its offsets
        self._sentences: dict[int, Span] = {}  # word number -> its sentence
        self._known: list[Span] = []  # every sentence found so far, in order
        self._split = False  # whether _known holds every sentence

    def span(self, token: int) -> Span:
        """The offsets in the text of word number ``token`` (one that starts or ends a hit)."""
        span = self._spans.get(token)
        if span is None:
            span = self._spans[token] = self._folded.span(token, self._starts[token])
        return span

    def in_sentence_of(self, token: int, other: int) -> bool:
        """Whether word ``token`` stands in the sentence of word ``other`` (whose sentence
        is looked for, not that of ``token``: sentences cover every word)."""
        start, end = self.sentence_of(other)
        return start <= self.span(token)[0] < end

    def sentence_of(self, token: int) -> Span:
        """The sentence holding word number ``token``: its span stands for it (ordered, unique)."""
        sentence = self._sentences.get(token)
        if sentence is None:
            sentence = self._sentences[token] = self._sentence_at(self.span(token)[0])
        return sentence

    def _sentence_at(self, offset: int) -> Span:
        """The sentence holding ``offset``: one already found, else looked for near it."""
        known = self._known
        index = bisect_right(known, (offset, len(self.text) + 1))
        if index and offset < known[index - 1][1]:
            return known[index - 1]
        if len(known) >= _LOOKUPS_BEFORE_SPLITTING and not self._split:  # many: split it all
            self._split = True
            self._known = sentence_spans(self.text)
            return self._sentence_at(offset)
        sentence = sentence_around(self.text, offset)
        known.insert(index, sentence)
        return sentence

    def evidence(self, ranges: Iterable[TokenRange]) -> Evidence:
        """The sentence(s) holding ``ranges``, with those words marked (nested ones once)."""
        ranges = _outermost(ranges)
        start = self.sentence_of(ranges[0][0])[0]
        end = max(self.sentence_of(last - 1) for _, last in ranges)[1]
        spans = tuple((self.span(a)[0] - start, self.span(b - 1)[1] - start) for a, b in ranges)
        return Evidence(self.name, self.text[start:end], spans)


def _outermost(ranges: Iterable[TokenRange]) -> list[TokenRange]:
    """The ranges not nested in another one, sorted."""
    unique = sorted(set(ranges), key=lambda r: (r[0], -r[1]))
    kept: list[TokenRange] = []
    for r in unique:
        if not kept or r[1] > kept[-1][1]:
            kept.append(r)
    return kept


def _per_sentence(field: _Field, ranges: Iterable[TokenRange]) -> list[Evidence]:
    """One evidence item per sentence, in text order, at most MAX_EVIDENCE."""
    groups: dict[Span, list[TokenRange]] = {}
    for token_range in sorted(ranges):  # text order: sentences come in order
        sentence = field.sentence_of(token_range[0])
        if sentence not in groups and len(groups) == MAX_EVIDENCE:
            break  # the sentences after these are not quoted
        groups.setdefault(sentence, []).append(token_range)
    return [field.evidence(g) for _, g in sorted(groups.items())]


@dataclass(frozen=True, slots=True)
class _Entity:
    id: str
    name: str
    terms: tuple[Term, ...]
    excludes: tuple[Term, ...]
    rank: int = 0  # position in the configuration


def _covers(outer: TokenRange, inner: TokenRange) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _overlaps(a: TokenRange, b: TokenRange) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    name: str
    triggers: tuple[Term, ...]
    window: int | None
    rank: int = 0  # position in the configuration

    def near(self, field: _Field, trigger: TokenRange, mention: TokenRange) -> bool:
        """Whether ``mention`` is close enough to ``trigger`` to take part."""
        if _overlaps(trigger, mention):
            return False
        if self.window is None:
            return field.in_sentence_of(trigger[0], mention[0])
        distance = max(mention[0] - trigger[1], trigger[0] - mention[1]) + 1
        return distance <= self.window


@dataclass(frozen=True, slots=True)
class _Topic:
    id: str
    name: str
    query: Query
    terms: frozenset[Term]
    required: Requirements  # each set needs a term found, or the query is false
    unmatched: tuple[Hit, ...] | None  # the query's value when none of its terms is found

    def evaluate(self, fields: FieldHits, found: set[Term]) -> Sequence[Hit] | None:
        """The query's value, without walking it when the terms found settle it."""
        if any(need.isdisjoint(found) for need in self.required):
            return None
        if self.terms.isdisjoint(found):
            return self.unmatched
        return self.query.evaluate(fields)


@dataclass(frozen=True, slots=True)
class _TopicIndex:
    """Which topics can be true once some terms are found: those that need one of them,
    and those that need none (``NOT football``)."""

    by_term: dict[Term, tuple[int, ...]]
    always: tuple[int, ...]
    topics: tuple[_Topic, ...]

    @classmethod
    def of(cls, topics: Sequence[_Topic]) -> _TopicIndex:
        by_term: dict[Term, list[int]] = {}
        always = []
        for rank, topic in enumerate(topics):
            if not topic.required:
                always.append(rank)
            for term in min(topic.required, key=len, default=()):
                by_term.setdefault(term, []).append(rank)
        index = {term: tuple(ranks) for term, ranks in by_term.items()}
        return cls(index, tuple(always), tuple(topics))

    def candidates(self, found: Iterable[Term]) -> list[_Topic]:
        """The topics worth evaluating, in configuration order."""
        ranks = set(self.always)
        for term in found:
            ranks.update(self.by_term.get(term, ()))
        return [self.topics[rank] for rank in sorted(ranks)]


_Ranked = TypeVar("_Ranked", _Entity, _Event)
Mentions = dict[str, list[TokenRange]]  # entity id -> its mentions in one field
FieldMentions = dict[str, Mentions]  # field name -> its mentions
TermIndex = dict[Term, tuple[str, ...]]  # term -> ids of the entities/events using it


def _index(pairs: Iterable[tuple[Term, str]]) -> TermIndex:
    index: dict[Term, list[str]] = {}
    for term, owner in pairs:
        if owner not in index.setdefault(term, []):
            index[term].append(owner)
    return {term: tuple(owners) for term, owners in index.items()}


def _collect(index: TermIndex, hits: Hits) -> dict[str, set[TokenRange]]:
    """Per owner id, the occurrences of its terms (work proportional to what was found)."""
    found: dict[str, set[TokenRange]] = {}
    for term, ranges in hits.items():
        for owner in index.get(term, ()):
            found.setdefault(owner, set()).update(ranges)
    return found


@dataclass(frozen=True, slots=True)
class _Indexes:
    """Which entity or event each term found belongs to."""

    names: TermIndex
    excludes: TermIndex
    triggers: TermIndex

    def mentions(self, hits: Hits) -> Mentions:
        """Per entity, occurrences of its name or aliases not covered by its excludes."""
        blocked = _collect(self.excludes, hits)
        return {
            entity_id: [r for r in sorted(found) if not _blocked(r, blocked.get(entity_id, ()))]
            for entity_id, found in _collect(self.names, hits).items()
        }

    def triggers_of(self, hits: Hits) -> dict[str, list[TokenRange]]:
        return {event_id: sorted(r) for event_id, r in _collect(self.triggers, hits).items()}


def _blocked(mention: TokenRange, excludes: Iterable[TokenRange]) -> bool:
    return any(_covers(exclude, mention) for exclude in excludes)


@dataclass(frozen=True, slots=True)
class Classifier:
    """Compiled watchlists: classify documents with :meth:`classify`."""

    matcher: TermMatcher
    indexes: _Indexes
    entities: tuple[_Entity, ...]
    events: tuple[_Event, ...]
    topics: tuple[_Topic, ...]
    entity_by_id: dict[str, _Entity]
    event_by_id: dict[str, _Event]
    topic_index: _TopicIndex

    def classify(self, doc: Document) -> Classification:
        """Every topic, entity and event ``doc`` matches, with evidence."""
        fields = self._analyse(doc)
        mentions = {f.name: self._mentions(f) for f in fields}
        matches = [
            *self._topic_matches(fields),
            *self._entity_matches(fields, mentions),
            *self._event_matches(fields, mentions),
        ]
        return Classification(tuple(matches))

    def _analyse(self, doc: Document) -> list[_Field]:
        texts = {"title": doc.title, "summary": doc.summary, "content": doc.content}
        return [_Field(n, texts[n], self.matcher) for n in FIELDS if texts[n].strip()]

    def _mentions(self, field: _Field) -> Mentions:
        return {k: ranges for k, ranges in self.indexes.mentions(field.hits).items() if ranges}

    def _topic_matches(self, fields: Sequence[_Field]) -> list[Match]:
        field_hits = {f.name: f.hits for f in fields}
        by_name = {f.name: f for f in fields}
        found = {term for f in fields for term in f.hits}
        matches = []
        for topic in self.topic_index.candidates(found):
            hits = topic.evaluate(field_hits, found)
            if hits is not None:
                evidence = _topic_evidence(by_name, hits)
                matches.append(Match("topic", topic.id, topic.name, evidence))
        return matches

    def _entity_matches(self, fields: Sequence[_Field], mentions: FieldMentions) -> list[Match]:
        mentioned = {entity_id for found in mentions.values() for entity_id in found}
        entities = _in_order(self.entity_by_id, mentioned)
        found = (_entity_match(entity, fields, mentions) for entity in entities)
        return [match for match in found if match is not None]

    def _event_matches(self, fields: Sequence[_Field], mentions: FieldMentions) -> list[Match]:
        if not any(mentions.values()):
            return []  # no participant anywhere: no event
        triggers = {f.name: self.indexes.triggers_of(f.hits) for f in fields}
        triggered = {event_id for found in triggers.values() for event_id in found}
        grouped = {f.name: _Grouped(f, mentions[f.name]) for f in fields}
        found = (
            _event_match(event, fields, mentions, triggers, grouped)
            for event in _in_order(self.event_by_id, triggered)
        )
        return [match for match in found if match is not None]


def _entity_match(
    entity: _Entity, fields: Sequence[_Field], mentions: FieldMentions
) -> Match | None:
    evidence: list[Evidence] = []
    for f in fields:
        if len(evidence) >= MAX_EVIDENCE:
            break  # the later fields are not quoted
        if entity.id in mentions[f.name]:
            evidence.extend(_per_sentence(f, mentions[f.name][entity.id]))
    if not evidence:
        return None
    return Match("entity", entity.id, entity.name, tuple(evidence[:MAX_EVIDENCE]))


def _event_match(
    event: _Event,
    fields: Sequence[_Field],
    mentions: FieldMentions,
    triggers: dict[str, dict[str, list[TokenRange]]],
    grouped: dict[str, _Grouped],
) -> Match | None:
    participants: set[str] = set()
    evidence: list[Evidence] = []
    for field in fields:
        occurrences = triggers[field.name].get(event.id, [])
        near_by = _with_participants(event, field, occurrences, grouped[field.name])
        for trigger, near in near_by:
            participants.update(entity_id for entity_id, _ in near)
            if len(evidence) < MAX_EVIDENCE:
                evidence.append(field.evidence([trigger, *(m for _, m in near)]))
    if not participants:
        return None
    found = tuple(sorted(participants))
    return Match("event", event.id, event.name, tuple(evidence[:MAX_EVIDENCE]), found)


def _in_order(by_id: Mapping[str, _Ranked], wanted: Iterable[str]) -> list[_Ranked]:
    """The entities or events of ``wanted`` ids, in configuration order."""
    return sorted((by_id[ident] for ident in wanted), key=attrgetter("rank"))


Mention = tuple[str, TokenRange]


class _Grouped:
    """The mentions of one field in text order, to find those of one sentence.

    A sentence is a run of consecutive words, so the mentions in a trigger's
    sentence are the trigger's neighbours in word order.
    """

    def __init__(self, field: _Field, mentions: Mentions) -> None:
        flat = [(entity_id, m) for entity_id, ranges in mentions.items() for m in ranges]
        self.flat = sorted(flat, key=lambda item: item[1])
        self._firsts = [m[0] for _, m in self.flat]
        self._field = field

    def in_sentence_of(self, token: int) -> list[Mention]:
        """The mentions that start in the sentence of word ``token``.

        Walking out from ``token`` in word order, a mention is in its sentence
        while no sentence ends between it and the last word kept: only those
        gaps of text are read.
        """
        firsts = self._firsts
        middle = bisect_right(firsts, token)
        before, kept = middle, token
        while before and self._together(firsts[before - 1], kept):
            before -= 1
            kept = firsts[before]
        after, kept = middle, token
        while after < len(firsts) and self._together(kept, firsts[after]):
            kept = firsts[after]
            after += 1
        return self.flat[before:after]

    def _together(self, first: int, second: int) -> bool:
        """Whether words ``first`` <= ``second`` stand in one sentence."""
        field = self._field
        return first == second or not sentence_ends_between(
            field.text, field.span(first)[0], field.span(second)[0]
        )


def _with_participants(
    event: _Event, field: _Field, occurrences: list[TokenRange], mentions: _Grouped
) -> Iterator[tuple[TokenRange, list[Mention]]]:
    """Each trigger occurrence in ``field`` with the entity mentions near it, if any."""
    if not mentions.flat:
        return
    for trigger in occurrences:
        candidates = mentions.flat if event.window else mentions.in_sentence_of(trigger[0])
        near = [(entity_id, m) for entity_id, m in candidates if event.near(field, trigger, m)]
        if near:
            yield trigger, near


def _topic_evidence(fields: dict[str, _Field], hits: Sequence[Hit]) -> tuple[Evidence, ...]:
    evidence: list[Evidence] = []
    for name in FIELDS:
        ranges = {(start, end) for field, start, end in hits if field == name}
        if ranges:
            evidence.extend(_per_sentence(fields[name], ranges))
    return tuple(evidence[:MAX_EVIDENCE])


def compile_watchlists(watchlists: Watchlists) -> Classifier:
    """Compile every term and query of ``watchlists`` once.

    Raises QuerySyntaxError for an invalid topic query and ConfigError for a
    name, alias, exclude phrase or trigger without a single letter or digit.
    """
    entities = tuple(_compile_entity(e, i) for i, e in enumerate(watchlists.entities))
    events = tuple(_compile_event(e, i) for i, e in enumerate(watchlists.events))
    topics = tuple(_compile_topic(t) for t in watchlists.topics)
    terms = [
        *(term for e in entities for term in (*e.terms, *e.excludes)),
        *(term for e in events for term in e.triggers),
        *(term for t in topics for term in t.query.terms()),
    ]
    indexes = _Indexes(
        names=_index((term, e.id) for e in entities for term in e.terms),
        excludes=_index((term, e.id) for e in entities for term in e.excludes),
        triggers=_index((term, e.id) for e in events for term in e.triggers),
    )
    return Classifier(
        TermMatcher(terms), indexes, entities, events, topics,
        {e.id: e for e in entities}, {e.id: e for e in events}, _TopicIndex.of(topics),
    )  # fmt: skip


def _compile_topic(topic: TopicConfig) -> _Topic:
    try:
        query = parse_query(topic.query)
    except QuerySyntaxError as error:
        message = f"topics[{topic.id}].query: {error}"
        raise QuerySyntaxError(message, column=error.column) from error
    unmatched = query.evaluate({})
    empty = None if unmatched is None else tuple(unmatched)
    return _Topic(topic.id, topic.name or topic.id, query, query.terms(), query.required(), empty)


def _compile_entity(entity: EntityConfig, rank: int) -> _Entity:
    where = f"entities[{entity.id}]"
    terms = _terms([entity.name], f"{where}.name") + _terms(entity.aliases, f"{where}.aliases")
    excludes = _terms(entity.exclude, f"{where}.exclude")
    return _Entity(entity.id, entity.name, terms, excludes, rank)


def _compile_event(event: EventConfig, rank: int) -> _Event:
    triggers = _terms(event.triggers, f"events[{event.id}].triggers")
    return _Event(event.id, event.name or event.id, triggers, event.window, rank)


def _terms(texts: Iterable[str], key: str) -> tuple[Term, ...]:
    try:
        return tuple(dict.fromkeys(Term.parse(text) for text in texts))
    except ValueError as error:
        problem = ConfigProblem(file="<watchlists>", line=None, key=key, message=str(error))
        raise ConfigError([problem]) from error
