"""The classifier: which watched topics, entities and events an article matches, and why.

:func:`compile_watchlists` turns the watchlists into one :class:`TermMatcher`
(every name, alias, exclude phrase, trigger and query word) and parsed
queries, once per configuration. :meth:`Classifier.decide` then reads each
field of a document once (its normalised words, one automaton pass) and
decides from the occurrences found alone; word offsets and sentences are only
computed where an event needs them. The evidence of a match, up to
:data:`MAX_EVIDENCE` sentences with the words marked, is built when asked for
(:meth:`Decision.quoted`), so routing pays nothing for it and a backtest only
for what it prints; :meth:`Classifier.classify` quotes every match.

- An entity is mentioned by its name or any alias, except where one of its
  ``exclude`` phrases covers the occurrence.
- An event: see :mod:`service.matching.events`.
- A topic matches when its query is true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from service.config.models import EntityConfig, EventConfig, TopicConfig, Watchlists
from service.domain import Classification, Document, Evidence, Match, MatchKind
from service.errors import ConfigError, ConfigProblem, QuerySyntaxError
from service.matching import _core
from service.matching.events import Event
from service.matching.field import MATCH, MAX_EVIDENCE, Field
from service.matching.query import FIELDS, FieldHits, Hit, Query, Requirements, parse_query
from service.matching.terms import Term, TermMatcher, TokenRange


@dataclass(frozen=True, slots=True)
class _Entity:
    id: str
    name: str
    terms: tuple[Term, ...]
    excludes: tuple[Term, ...]
    rank: int = 0  # position in the configuration


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


def _owners(
    terms: Sequence[Term], numbers: dict[Term, int], owned: Iterable[tuple[Term, int]]
) -> list[tuple[int, ...]]:
    """Per term number, the entities or events (by number) that use it."""
    owners: list[dict[int, None]] = [{} for _ in terms]
    for term, owner in owned:
        owners[numbers[term]][owner] = None
    return [tuple(found) for found in owners]


def _roles(
    matcher: TermMatcher, entities: Sequence[_Entity], events: Sequence[Event]
) -> _core.Roles:
    """Which entity each term names or excludes and which event it triggers, for C."""
    terms, numbers = matcher.terms, matcher.numbers
    return _core.Roles(
        len(entities),
        _owners(terms, numbers, ((t, i) for i, e in enumerate(entities) for t in e.terms)),
        _owners(terms, numbers, ((t, i) for i, e in enumerate(entities) for t in e.excludes)),
        _owners(terms, numbers, ((t, i) for i, e in enumerate(events) for t in e.triggers)),
        tuple(e.window for e in events),
    )


Quote = Callable[[], tuple[Evidence, ...]]
_Found = tuple[MatchKind, str, str, tuple[str, ...], Quote]  # kind, id, name, participants


@dataclass(frozen=True, slots=True)
class Decision:
    """Which topics, entities and events one document matches, and how to quote why.

    ``matches`` carry no evidence (routing needs none); :meth:`quoted` builds
    it for the matches asked for, :meth:`classification` for all of them (each
    match made once, with its evidence: the pipeline quotes every match).
    """

    found: tuple[_Found, ...]

    @property
    def matches(self) -> tuple[Match, ...]:
        return tuple(Match(kind, id_, name, (), who) for kind, id_, name, who, _ in self.found)

    @property
    def bare(self) -> Classification:
        """The matches without evidence: enough to route."""
        return Classification(self.matches)

    def quoted(self, matches: Iterable[Match]) -> tuple[Match, ...]:
        """``matches`` (of this decision) with their evidence."""
        quotes = {(kind, id_): quote for kind, id_, _, _, quote in self.found}
        return tuple(
            Match(m.kind, m.id, m.name, quotes[m.kind, m.id](), m.participants) for m in matches
        )

    def classification(self) -> Classification:
        """Every match with its evidence."""
        return Classification(
            tuple(
                MATCH(kind, id_, name, quote(), who) for kind, id_, name, who, quote in self.found
            )
        )


@dataclass(frozen=True, slots=True)
class Classifier:
    """Compiled watchlists: :meth:`decide` or :meth:`classify` documents."""

    matcher: TermMatcher
    roles: _core.Roles
    entities: tuple[_Entity, ...]
    events: tuple[Event, ...]
    topics: tuple[_Topic, ...]
    topic_index: _TopicIndex

    def classify(self, doc: Document) -> Classification:
        """Every topic, entity and event ``doc`` matches, with evidence."""
        return self.decide(doc).classification()

    def decide(self, doc: Document) -> Decision:
        """Every topic, entity and event ``doc`` matches; evidence on demand."""
        fields = self._analyse(doc)
        mentions, events = _core.decide(self.roles, tuple(f.scan for f in fields))
        return Decision(
            (
                *self._topic_matches(fields),
                *self._entity_matches(fields, mentions),
                *self._event_matches(fields, events),
            )
        )

    def _analyse(self, doc: Document) -> list[Field]:
        texts = {"title": doc.title, "summary": doc.summary, "content": doc.content}
        return [Field(n, texts[n], self.matcher) for n in FIELDS if texts[n].strip()]

    def _topic_matches(self, fields: Sequence[Field]) -> list[_Found]:
        found = {term for f in fields for term in f.hits}
        if not found and not self.topic_index.always:
            return []
        field_hits = {f.name: f.hits for f in fields}
        by_name = {f.name: f for f in fields}
        matches: list[_Found] = []
        for topic in self.topic_index.candidates(found):
            hits = topic.evaluate(field_hits, found)
            if hits is not None:
                quote = partial(_topic_evidence, by_name, hits)
                matches.append(("topic", topic.id, topic.name, (), quote))
        return matches

    def _entity_matches(self, fields: Sequence[Field], mentions: FieldMentions) -> list[_Found]:
        mentioned = sorted({number for found in mentions for number in found})
        entities = self.entities
        return [
            (
                "entity",
                entities[n].id,
                entities[n].name,
                (),
                partial(_entity_evidence, n, fields, mentions),
            )
            for n in mentioned
        ]

    def _event_matches(self, fields: Sequence[Field], events: FoundEvents) -> list[_Found]:
        matches: list[_Found] = []
        for number, participants, quotes in events:
            event = self.events[number]
            ids = tuple(sorted(self.entities[n].id for n in participants))
            matches.append(
                ("event", event.id, event.name, ids, partial(_event_evidence, fields, quotes))
            )
        return matches


FieldMentions = tuple[dict[int, list[TokenRange]], ...]  # per field: entity number -> mentions
EventQuote = tuple[int, TokenRange, tuple[TokenRange, ...]]  # field, trigger, mentions near
FoundEvents = list[tuple[int, tuple[int, ...], tuple[EventQuote, ...]]]


def _entity_evidence(
    entity: int, fields: Sequence[Field], mentions: FieldMentions
) -> tuple[Evidence, ...]:
    evidence: list[Evidence] = []
    for f, found in zip(fields, mentions, strict=True):
        if len(evidence) >= MAX_EVIDENCE:
            break  # the later fields are not quoted
        if entity in found:
            evidence.extend(f.per_sentence(found[entity]))
    return tuple(evidence[:MAX_EVIDENCE])


def _event_evidence(
    fields: Sequence[Field], quotes: tuple[EventQuote, ...]
) -> tuple[Evidence, ...]:
    return tuple(fields[f].evidence((trigger, *near)) for f, trigger, near in quotes)


def _topic_evidence(fields: dict[str, Field], hits: Sequence[Hit]) -> tuple[Evidence, ...]:
    evidence: list[Evidence] = []
    for name in FIELDS:
        ranges = {(start, end) for field, start, end in hits if field == name}
        if ranges:
            evidence.extend(fields[name].per_sentence(ranges))
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
    matcher = TermMatcher(terms, {term for t in topics for term in t.terms})
    return Classifier(
        matcher, _roles(matcher, entities, events), entities, events, topics,
        _TopicIndex.of(topics),
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


def _compile_event(event: EventConfig, rank: int) -> Event:
    triggers = _terms(event.triggers, f"events[{event.id}].triggers")
    return Event(event.id, event.name or event.id, triggers, event.window, rank)


def _terms(texts: Iterable[str], key: str) -> tuple[Term, ...]:
    try:
        return tuple(dict.fromkeys(Term.parse(text) for text in texts))
    except ValueError as error:
        problem = ConfigProblem(file="<watchlists>", line=None, key=key, message=str(error))
        raise ConfigError([problem]) from error
