"""A slow, direct reading of the matching semantics, to hold the classifier's fast paths to.

Word by word (:func:`tokenize`), sentence by sentence (:func:`sentence_spans`),
each term looked for at every word that could start it: nothing folded in
bulk, no automaton, nothing cached or computed on demand. The classifier
must give exactly these matches, participants and evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from service.config.models import Watchlists
from service.domain import Classification, Document, Evidence, Match
from service.matching.field import MAX_EVIDENCE
from service.matching.query import FIELDS, Hit, parse_query
from service.matching.terms import Term
from service.text.normalize import tokenize
from service.text.sentences import Span, sentence_spans

Range = tuple[int, int]  # [first word, last word + 1)
Mention = tuple[str, Range]  # entity id, its words


class RefField:
    """One field's words, sentences and term occurrences, computed plainly."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.tokens = tokenize(text)
        self.norms = [token.norm for token in self.tokens]
        self.sentences = sentence_spans(text)
        self.at: dict[str, list[int]] = {}
        for index, norm in enumerate(self.norms):
            self.at.setdefault(norm, []).append(index)

    def occurrences(self, term: Term) -> list[Range]:
        """Every [start, end) word range where ``term`` stands, in text order."""
        size = len(term.words)
        found = []
        starts: Sequence[int] = self.at.get(term.words[0], [])  # its first word, whole
        if size == 1 and term.prefix:
            starts = range(len(self.norms))
        for first in starts:
            *whole, last = self.norms[first : first + size]
            if whole != list(term.words[:-1]):
                continue
            if last == term.words[-1] or (term.prefix and last.startswith(term.words[-1])):
                found.append((first, first + size))
        return found

    def sentence(self, token: int) -> Span:
        """The sentence holding the start of word number ``token``."""
        start = self.tokens[token].start
        return next(s for s in self.sentences if s[0] <= start < s[1])

    def evidence(self, ranges: Iterable[Range]) -> Evidence:
        kept: list[Range] = []
        for r in sorted(set(ranges), key=lambda r: (r[0], -r[1])):
            if not kept or r[1] > kept[-1][1]:  # not nested in the one before
                kept.append(r)
        start = self.sentence(kept[0][0])[0]
        end = max(self.sentence(last - 1) for _, last in kept)[1]
        spans = tuple(
            (self.tokens[a].start - start, self.tokens[b - 1].end - start) for a, b in kept
        )
        return Evidence(self.name, self.text[start:end], spans)

    def per_sentence(self, ranges: Iterable[Range]) -> list[Evidence]:
        groups: dict[Span, list[Range]] = {}
        for r in sorted(ranges):
            sentence = self.sentence(r[0])
            if sentence in groups or len(groups) < MAX_EVIDENCE:
                groups.setdefault(sentence, []).append(r)
        return [self.evidence(group) for _, group in sorted(groups.items())]


def _terms(texts: Iterable[str]) -> list[Term]:
    return [_term(text) for text in texts]


@cache
def _term(text: str) -> Term:
    return Term.parse(text)


def _covers(outer: Range, inner: Range) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _mentions(watchlists: Watchlists, field: RefField) -> dict[str, list[Range]]:
    """Per entity mentioned in ``field``: its name and alias occurrences no exclude covers."""
    found = {}
    for entity in watchlists.entities:
        names = {r for t in _terms([entity.name, *entity.aliases]) for r in field.occurrences(t)}
        excludes = [r for t in _terms(entity.exclude) for r in field.occurrences(t)]
        kept = sorted(r for r in names if not any(_covers(x, r) for x in excludes))
        if kept:
            found[entity.id] = kept
    return found


def _near(
    field: RefField, trigger: Range, mentions: Sequence[Mention], window: int | None
) -> list[Mention]:
    start, end = trigger
    sentence = field.sentence(start)
    return [
        (entity_id, m)
        for entity_id, m in mentions
        if not (start < m[1] and m[0] < end)  # a mention overlapping the trigger is no partner
        and (
            field.sentence(m[0]) == sentence
            if window is None
            else max(m[0] - end, start - m[1]) < window
        )
    ]


def classify(watchlists: Watchlists, doc: Document) -> Classification:
    """Every topic, entity and event of ``watchlists`` that ``doc`` matches, with evidence."""
    texts = {"title": doc.title, "summary": doc.summary, "content": doc.content}
    fields = [RefField(name, texts[name]) for name in FIELDS if texts[name].strip()]
    by_name = {f.name: f for f in fields}
    mentions = {f.name: _mentions(watchlists, f) for f in fields}
    matches: list[Match] = []
    for topic in watchlists.topics:
        query = parse_query(topic.query)
        hits = {f.name: {t: f.occurrences(t) for t in query.terms()} for f in fields}
        found = query.evaluate({n: {t: r for t, r in h.items() if r} for n, h in hits.items()})
        if found is not None:
            matches.append(Match("topic", topic.id, topic.name or topic.id, _quote(by_name, found)))
    for entity in watchlists.entities:
        evidence: list[Evidence] = []
        for f in fields:
            if entity.id in mentions[f.name] and len(evidence) < MAX_EVIDENCE:
                evidence.extend(f.per_sentence(mentions[f.name][entity.id]))
        if evidence:
            matches.append(Match("entity", entity.id, entity.name, tuple(evidence[:MAX_EVIDENCE])))
    if not any(mentions.values()):
        return Classification(tuple(matches))
    for event in watchlists.events:
        participants: set[str] = set()
        quotes: list[Evidence] = []
        for f in fields:
            flat = sorted(((e, m) for e, ms in mentions[f.name].items() for m in ms),
                          key=lambda item: item[1])  # fmt: skip
            triggers = sorted({r for t in _terms(event.triggers) for r in f.occurrences(t)})
            for trigger in triggers if flat else ():
                near = _near(f, trigger, flat, event.window)
                participants.update(entity_id for entity_id, _ in near)
                if near and len(quotes) < MAX_EVIDENCE:
                    quotes.append(f.evidence([trigger, *(m for _, m in near)]))
        if participants:
            name = event.name or event.id
            match = Match("event", event.id, name, tuple(quotes), tuple(sorted(participants)))
            matches.append(match)
    return Classification(tuple(matches))


def _quote(fields: dict[str, RefField], hits: Sequence[Hit]) -> tuple[Evidence, ...]:
    evidence: list[Evidence] = []
    for name in FIELDS:
        ranges = {(start, end) for field, start, end in hits if field == name}
        if ranges:
            evidence.extend(fields[name].per_sentence(ranges))
    return tuple(evidence[:MAX_EVIDENCE])
