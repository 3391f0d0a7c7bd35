"""Checks across items and files that the pydantic models cannot make.

Duplicate feed URLs, duplicate ids per kind across watchlist files, references
from subscriptions to ids, notify URLs apprise cannot send to, topic query
syntax (at the file line and column of the offending character) and terms
without a word. They read the substituted raw YAML data, not the validated
models, so one bad item does not hide its neighbours' problems nor make valid
references to it look unknown; each problem is added to its document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from service.config.scalar_position import scalar_start, value_position
from service.config.yaml_lines import YamlDocument, YamlPath, format_key
from service.errors import QuerySyntaxError

_KINDS = {
    "entities": "entity",
    "events": "event",
    "topics": "topic",
    "subscriptions": "subscription",
}
_REFERENCES = ("topics", "entities", "events")


def _items(data: object, section: str) -> Iterator[tuple[int, dict[str, object]]]:
    """The mapping items of list ``section`` of ``data``, with their indexes."""
    items = data.get(section) if isinstance(data, dict) else None
    if isinstance(items, list):
        yield from ((i, item) for i, item in enumerate(items) if isinstance(item, dict))


def check_feed_urls(doc: YamlDocument) -> None:
    seen: dict[str, YamlPath] = {}
    for index, feed in _items(doc.data, "feeds"):
        url = feed.get("url")
        if not isinstance(url, str):
            continue
        path: YamlPath = ("feeds", index, "url")
        first = seen.setdefault(url.strip(), path)
        if first != path:
            where = f"{format_key(first)} at line {doc.line_of(first)}"
            doc.add(path, f"duplicate feed URL {url.strip()!r} (also {where})")


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an id is defined: file, path of its ``id`` key, and line."""

    file: str
    path: YamlPath
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def check_watchlists(docs: list[YamlDocument]) -> None:
    known = _collect_ids(docs)
    for doc in docs:
        _check_subscriptions(doc, known)
        _check_queries(doc)
        _check_terms(doc)


def _collect_ids(docs: list[YamlDocument]) -> dict[str, dict[str, _Place]]:
    """Ids per section, each with where it was first defined; reports duplicates."""
    known: dict[str, dict[str, _Place]] = {section: {} for section in _KINDS}
    for doc in docs:
        for section, kind in _KINDS.items():
            for index, item in _items(doc.data, section):
                ident = item.get("id")
                if not isinstance(ident, str):
                    continue
                path: YamlPath = (section, index, "id")
                place = _Place(doc.file, path, doc.line_of(path))
                first = known[section].setdefault(ident, place)
                if first != place:
                    doc.add(path, f"duplicate {kind} id {ident!r} (first defined at {first})")
    return known


def _check_subscriptions(doc: YamlDocument, known: dict[str, dict[str, _Place]]) -> None:
    for index, item in _items(doc.data, "subscriptions"):
        path: YamlPath = ("subscriptions", index)
        if not any(item.get(section) for section in _REFERENCES):
            doc.add(path, "a subscription needs at least one of topics, entities, events")
        for section in _REFERENCES:
            _check_references(doc, (*path, section), item.get(section), known[section])
        _check_notify_urls(doc, (*path, "notify"), item.get("notify"))


def check_ops_notify(doc: YamlDocument) -> None:
    ops = doc.data.get("ops") if isinstance(doc.data, dict) else None
    if isinstance(ops, dict):
        _check_notify_urls(doc, ("ops", "notify"), ops.get("notify"))


def _check_notify_urls(doc: YamlDocument, path: YamlPath, urls: object) -> None:
    """Each notify URL must be one apprise can send to (checked at load, not at send)."""
    from service.notify.channels import notify_url_problem  # apprise is slow to import

    if not isinstance(urls, list):
        return
    for index, url in enumerate(urls):
        if (*path, index) in doc.refused or not isinstance(url, str):
            continue
        problem = notify_url_problem(url)
        if problem is not None:
            doc.add((*path, index), problem)


def _check_references(
    doc: YamlDocument, path: YamlPath, refs: object, ids: Mapping[str, _Place]
) -> None:
    if not isinstance(refs, list):
        return
    kind = _KINDS[str(path[-1])]
    for index, ref in enumerate(refs):
        if isinstance(ref, str) and ref not in ids:
            doc.add((*path, index), f"unknown {kind} id {ref!r}")


def _check_queries(doc: YamlDocument) -> None:
    parse = _query_parser()
    for index, topic in _items(doc.data, "topics"):
        query = topic.get("query")
        if not isinstance(query, str) or not query:
            continue
        try:
            parse(query)
        except QuerySyntaxError as exc:
            _report_query(doc, ("topics", index, "query"), query, exc)


_TERM_KEYS = {"entities": ("aliases", "exclude"), "events": ("triggers",)}


def _check_terms(doc: YamlDocument) -> None:
    """Names, aliases, exclude phrases and triggers must each hold a word."""
    from service.text.normalize import normalize_term

    for section, keys in _TERM_KEYS.items():
        for index, item in _items(doc.data, section):
            named: list[tuple[YamlPath, object]] = []
            if section == "entities":
                named.append(((section, index, "name"), item.get("name")))
            for key in keys:
                values = item.get(key)
                if isinstance(values, list):
                    named.extend(((section, index, key, i), v) for i, v in enumerate(values))
            for path, term in named:
                if isinstance(term, str) and term:
                    _check_term(doc, path, term, normalize_term)


def _check_term(
    doc: YamlDocument, path: YamlPath, term: str, check: Callable[[str], object]
) -> None:
    try:
        check(term)
    except ValueError as exc:
        doc.add(path, str(exc))


def _query_parser() -> Callable[[str], object]:
    """``service.matching.query.parse_query``, imported late (it pulls in luqum)."""
    from service.matching.query import parse_query

    return parse_query


def _report_query(doc: YamlDocument, path: YamlPath, query: str, exc: QuerySyntaxError) -> None:
    """The problem at the file line and column of the offending character when the
    query's text in the file is its value, else at the query's start, saying so."""
    node = doc.queries.get(path)
    if exc.column is None or node is None:
        doc.add(path, f"invalid query: {exc}")
        return
    found = value_position(node, query, exc.column - 1)
    if found is not None:
        doc.add(path, f"invalid query: {exc}", *found)
        return
    note = "not exact: the file writes the query with escapes or it was substituted"
    message = f"invalid query: {exc} at column {exc.column} of the query ({note})"
    doc.add(path, message, *scalar_start(node))
