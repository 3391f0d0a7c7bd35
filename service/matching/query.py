"""Topic queries: Lucene syntax parsed by luqum into a small immutable AST of our own.

Supported: ``AND``, ``OR``, ``NOT`` (also ``AND NOT``, ``-word``; ``+word`` is
the word itself), parentheses, ``"quoted phrases"`` (also in “typographic” or
«French» quotes), ``word*`` (any ending),
``"a b"~N`` (every word within N other words of the others, in any order) and
the fields ``title:``, ``summary:`` and ``text:`` (the content, or the summary
when there is no content); without a field a term may be in any of title,
summary and content. Terms without an operator between them (``Ilham
Aliyev``) are joined by AND, with the lowest precedence as in luqum:
``a b OR c`` is ``a AND (b OR c)``. Ranges, regexes, fuzzy ``word~``, boosts,
``?`` wildcards and other fields raise :class:`QuerySyntaxError`, as does any
syntax error, with the 1-based column of the offending text.

A query is evaluated against the term occurrences of each field (see
:mod:`service.matching.terms`) and returns the occurrences that made it true,
which become the evidence of the match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from luqum import tree
from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse

from service.errors import QuerySyntaxError
from service.matching.terms import Term, TokenRange
from service.text.normalize import words

FIELDS = ("title", "summary", "content")
QUERY_FIELDS = frozenset({"title", "summary", "text"})

FieldHits = Mapping[str, Mapping[Term, Sequence[TokenRange]]]
"""Per present field (title, summary, content): each term found, with its token ranges."""

Hit = tuple[str, int, int]
"""An occurrence that made a query true: field, first token, token after the last."""

Requirements = tuple[frozenset[Term], ...]
"""Sets of terms; a query can only be true when each set has a term in the article."""


def _fields_of(field: str | None, hits: FieldHits) -> tuple[str, ...]:
    if field is None:
        return tuple(f for f in FIELDS if f in hits)
    if field == "text":
        return ("content",) if "content" in hits else ("summary",)
    return (field,)


def _occurrences(hits: FieldHits, field: str | None, term: Term) -> Iterator[Hit]:
    for name in _fields_of(field, hits):
        for start, end in hits.get(name, {}).get(term, ()):
            yield name, start, end


@dataclass(frozen=True, slots=True)
class TermNode:
    """A word, prefix or phrase, in one field or any."""

    term: Term
    field: str | None = None

    def evaluate(self, hits: FieldHits) -> list[Hit] | None:
        found = list(_occurrences(hits, self.field, self.term))
        return found or None

    def terms(self) -> Iterator[Term]:
        yield self.term

    def required(self) -> Requirements:
        return (frozenset({self.term}),)


@dataclass(frozen=True, slots=True)
class NearNode:
    """All ``parts`` in one field with at most ``distance`` other words between them."""

    parts: tuple[Term, ...]
    distance: int
    field: str | None = None

    def evaluate(self, hits: FieldHits) -> list[Hit] | None:
        found: list[Hit] = []
        for name in _fields_of(self.field, hits):
            ranges = _near(self._positions(hits, name), len(self.parts), self._max_span)
            found.extend((name, start, end) for start, end in sorted(ranges))
        return found or None

    def terms(self) -> Iterator[Term]:
        yield from self.parts

    def required(self) -> Requirements:
        return tuple(frozenset({part}) for part in self.parts)

    @property
    def _max_span(self) -> int:
        return self.distance + len(self.parts) - 1

    def _positions(self, hits: FieldHits, field: str) -> list[tuple[TokenRange, int]]:
        found = hits.get(field, {})
        return sorted((r, i) for i, term in enumerate(self.parts) for r in found.get(term, ()))


def _near(positions: list[tuple[TokenRange, int]], needed: int, max_span: int) -> set[TokenRange]:
    """Occurrences in every window that holds each part and starts within ``max_span``."""
    matched: set[TokenRange] = set()
    for left, ((first, _), _) in enumerate(positions):
        window: dict[int, TokenRange] = {}
        for found, index in positions[left:]:
            if found[0] - first > max_span:
                break
            window.setdefault(index, found)
            if len(window) == needed:
                matched.update(window.values())
                break
    return matched


@dataclass(frozen=True, slots=True)
class AndNode:
    children: tuple[Node, ...]

    def evaluate(self, hits: FieldHits) -> list[Hit] | None:
        found: list[Hit] = []
        for child in self.children:
            result = child.evaluate(hits)
            if result is None:
                return None
            found.extend(result)
        return found

    def terms(self) -> Iterator[Term]:
        for child in self.children:
            yield from child.terms()

    def required(self) -> Requirements:
        return tuple(need for child in self.children for need in child.required())


@dataclass(frozen=True, slots=True)
class OrNode:
    children: tuple[Node, ...]

    def evaluate(self, hits: FieldHits) -> list[Hit] | None:
        results = [r for r in (c.evaluate(hits) for c in self.children) if r is not None]
        return [hit for result in results for hit in result] if results else None

    def terms(self) -> Iterator[Term]:
        for child in self.children:
            yield from child.terms()

    def required(self) -> Requirements:
        needs = [child.required() for child in self.children]
        if not all(needs):
            return ()
        return (frozenset().union(*(min(need, key=len) for need in needs)),)


@dataclass(frozen=True, slots=True)
class NotNode:
    child: Node

    def evaluate(self, hits: FieldHits) -> list[Hit] | None:
        return [] if self.child.evaluate(hits) is None else None

    def terms(self) -> Iterator[Term]:
        yield from self.child.terms()

    def required(self) -> Requirements:
        return ()


Node = TermNode | NearNode | AndNode | OrNode | NotNode


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed topic query: its source text and the AST evaluated per article."""

    text: str
    root: Node

    def evaluate(self, hits: FieldHits) -> list[Hit] | None:
        """None when the query is false, else the occurrences that made it true."""
        return self.root.evaluate(hits)

    def matches(self, hits: FieldHits) -> bool:
        return self.evaluate(hits) is not None

    def terms(self) -> frozenset[Term]:
        """Every term the query looks for (to compile into the automaton)."""
        return frozenset(self.root.terms())

    def required(self) -> Requirements:
        """Sets of terms of which the query, to be true, needs one each (found by someone).

        ``a AND (b OR "c d")`` needs {a} and {b, c d}; ``NOT a`` needs nothing.
        A query whose requirements are not all met is false without evaluating it.
        """
        return self.root.required()


# Typographic double quotes (what word processors, Slack and phone keyboards type, and
# French guillemets) delimit a phrase like '"': left to luqum, “Grand Prix” was two words
# (``NOT “Grand Prix”`` meant ``NOT grand AND prix``). One character for one: columns hold.
_PHRASE_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»", '"'))


def parse_query(text: str) -> Query:
    """Parse a Lucene-style topic query; QuerySyntaxError (with column) if it is invalid."""
    if not text.strip():
        raise QuerySyntaxError("empty query", column=1)
    try:
        parsed = luqum_parse(text.translate(_PHRASE_QUOTES))
    except ParseError as error:
        raise QuerySyntaxError(_luqum_message(error), column=_luqum_column(error, text)) from error
    except Exception as error:  # luqum converts degrees itself: "a b"~1.5
        raise QuerySyntaxError(_other_message(text), column=_other_column(text)) from error
    return Query(text, _Compiler().node(parsed, None))


_POSITION_RE = re.compile(r"at position (\d+)")


def _luqum_message(error: ParseError) -> str:
    message = str(error).replace("Syntax error in input : ", "").rstrip("!")
    message = _POSITION_RE.sub("", message).replace(" at the end", "").strip()
    if message.startswith("Illegal character '\""):
        return "unterminated quoted phrase"
    return " ".join(message.split())


def _luqum_column(error: ParseError, text: str) -> int:
    found = _POSITION_RE.search(str(error))
    return int(found.group(1)) + 1 if found else len(text.rstrip()) + 1


_OPERATOR_LOOKALIKES = frozenset({"&&", "||", "!", "and", "or", "not"})
_BAD_DEGREE_RE = re.compile(r"~[0-9]*\.[0-9.]*")


def _other_message(text: str) -> str:
    if _BAD_DEGREE_RE.search(text):
        return "proximity '~N' needs a whole number of words"
    return "invalid query"


def _other_column(text: str) -> int | None:
    found = _BAD_DEGREE_RE.search(text)
    return found.start() + 1 if found else None


class _Compiler:
    """Turns a luqum tree into our nodes, rejecting what we do not support."""

    def node(self, item: Any, field: str | None) -> Node:
        handler = _HANDLERS.get(type(item))
        if handler is None:
            raise self._error(item, f"unsupported query construct: {_describe(item)}")
        return handler(self, item, field)

    def _error(self, item: Any, message: str) -> QuerySyntaxError:
        pos = getattr(item, "pos", None)
        return QuerySyntaxError(message, column=pos + 1 if isinstance(pos, int) else None)

    def _children(self, item: Any, field: str | None) -> tuple[Node, ...]:
        return tuple(self.node(child, field) for child in item.children)

    def and_(self, item: Any, field: str | None) -> Node:
        return AndNode(self._children(item, field))

    def or_(self, item: Any, field: str | None) -> Node:
        return OrNode(self._children(item, field))

    def not_(self, item: Any, field: str | None) -> Node:
        return NotNode(self.node(item.a, field))

    def plus(self, item: Any, field: str | None) -> Node:
        return self.node(item.a, field)

    def group(self, item: Any, field: str | None) -> Node:
        return self.node(item.expr, field)

    def search_field(self, item: Any, field: str | None) -> Node:
        if field is not None:
            raise self._error(item, f"field {item.name!r} inside field {field!r}")
        if item.name not in QUERY_FIELDS:
            known = ", ".join(sorted(QUERY_FIELDS))
            raise self._error(item, f"unknown field {item.name!r} (known: {known})")
        return self.node(item.expr, item.name)

    def word(self, item: Any, field: str | None) -> Node:
        if item.value in _OPERATOR_LOOKALIKES:
            message = f"{item.value!r} is not an operator: write AND, OR, NOT in capitals"
            raise self._error(item, message)
        if "?" in item.value:
            raise self._error(item, f"'?' wildcards are not supported: {item.value!r}")
        return TermNode(self._term(item, item.unescaped_value), field)

    def phrase(self, item: Any, field: str | None) -> Node:
        return TermNode(self._term(item, item.unescaped_value[1:-1]), field)

    def proximity(self, item: Any, field: str | None) -> Node:
        if not isinstance(item.term, tree.Phrase):
            raise self._error(item, "proximity '~N' applies to a quoted phrase")
        chunks = item.term.unescaped_value[1:-1].split()
        terms = tuple(self._term(item.term, c) for c in chunks if words(c.rstrip("*")))
        if len(terms) < 2:
            return TermNode(terms[0], field) if terms else self.phrase(item.term, field)
        return NearNode(terms, int(item.degree), field)

    def _term(self, item: Any, value: str) -> Term:
        try:
            return Term.parse(value)
        except ValueError as error:
            raise self._error(item, str(error)) from error


def _describe(item: Any) -> str:
    names = {
        tree.Range: "range", tree.From: "range", tree.To: "range", tree.Regex: "regex",
        tree.Fuzzy: "fuzzy search 'word~'", tree.Boost: "boost '^'",
    }  # fmt: skip
    return names.get(type(item), type(item).__name__)


_HANDLERS: dict[type, Callable[[_Compiler, Any, str | None], Node]] = {
    tree.AndOperation: _Compiler.and_,
    tree.UnknownOperation: _Compiler.and_,
    tree.OrOperation: _Compiler.or_,
    tree.Not: _Compiler.not_,
    tree.Prohibit: _Compiler.not_,
    tree.Plus: _Compiler.plus,
    tree.Group: _Compiler.group,
    tree.FieldGroup: _Compiler.group,
    tree.SearchField: _Compiler.search_field,
    tree.Word: _Compiler.word,
    tree.Phrase: _Compiler.phrase,
    tree.Proximity: _Compiler.proximity,
}
