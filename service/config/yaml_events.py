"""YAML text to plain data straight from the parser's events, without a node tree.

A 100,000-feed feeds.yaml composed into nodes (each with two marks) costs
hundreds of megabytes that are garbage a moment later and leave the heap
fragmented (bench_poller's registered-feeds RSS). Most files, and every
feeds.yaml a person or an OPML import writes, use only plain mappings,
sequences and non-block scalars: those are built here from libyaml's events
(PyYAML's C parser when it is installed), keeping one line number per path.

Anything else (anchors, aliases, merge keys, explicit tags, block scalars,
topic queries, complex keys, several documents, a syntax error) raises ``NeedsNodes`` and
``yaml_lines`` composes the text as before, so its messages stay exactly as
they were. The values and problems built here are those ``yaml_lines``
builds for the same text (tests/test_config_events.py compares both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import yaml
from yaml.resolver import Resolver

if TYPE_CHECKING:
    from service.config.yaml_lines import YamlDocument, YamlPath

# libyaml when PyYAML was built with it; the pure-Python parser otherwise
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"

ScalarBuilder = Callable[[yaml.ScalarNode, "YamlPath"], object]


def is_query(path: YamlPath) -> bool:
    """Whether ``path`` holds a topic query (whose node the loader needs)."""
    return path[-1:] == ("query",)


class NeedsNodes(Exception):
    """The text uses YAML beyond what the event builder handles: compose it."""


def build_from_events(text: str, doc: YamlDocument, scalar: ScalarBuilder) -> None:
    """Fill ``doc.data`` and ``doc.lines`` from ``text``; raise ``NeedsNodes`` if unsure.

    ``scalar`` turns a resolved scalar node into its value (reporting bad
    values on ``doc``), the same function the node builder uses.
    """
    try:
        _EventBuilder(doc, scalar, yaml.parse(text, Loader=_LOADER)).run()
    except (yaml.YAMLError, StopIteration) as exc:  # composed again for the exact message
        raise NeedsNodes from exc


class _EventBuilder:
    def __init__(
        self, doc: YamlDocument, scalar: ScalarBuilder, events: Iterator[yaml.Event]
    ) -> None:
        self.doc = doc
        self.scalar = scalar
        self.events = events
        self.resolver = Resolver()

    def run(self) -> None:
        if not isinstance(next(self.events), yaml.StreamStartEvent):
            raise NeedsNodes
        event = next(self.events)
        if isinstance(event, yaml.StreamEndEvent):
            self.doc.data = {}
            return
        if not isinstance(event, yaml.DocumentStartEvent):
            raise NeedsNodes
        root = next(self.events)
        self.doc.lines[()] = _line(root)
        self.doc.data = self.value(root, ())
        if not isinstance(next(self.events), yaml.DocumentEndEvent):
            raise NeedsNodes
        if not isinstance(next(self.events), yaml.StreamEndEvent):
            raise NeedsNodes  # several documents: compose says so

    def value(self, event: yaml.Event, path: YamlPath) -> object:
        if getattr(event, "anchor", None) is not None or getattr(event, "tag", None) is not None:
            raise NeedsNodes
        if isinstance(event, yaml.ScalarEvent):
            return self.scalar_value(event, path)
        if isinstance(event, yaml.MappingStartEvent):
            return self.mapping(path)
        if isinstance(event, yaml.SequenceStartEvent):
            return self.sequence(path)
        raise NeedsNodes  # an alias

    def scalar_value(self, event: yaml.ScalarEvent, path: YamlPath) -> object:
        if event.style in ("|", ">") or is_query(path):
            raise NeedsNodes  # a query's node is kept for the file column of its errors
        tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        if tag == _STR_TAG:
            return event.value
        mark = yaml.error.Mark("", 0, _line(event) - 1, 0, "", 0)  # the line is all we use
        node = yaml.ScalarNode(tag, event.value, mark, mark, event.style)
        return self.scalar(node, path)

    def mapping(self, path: YamlPath) -> dict[str, object]:
        result: dict[str, object] = {}
        lines = self.doc.lines
        for event in self.events:
            if isinstance(event, yaml.MappingEndEvent):
                return result
            if not isinstance(event, yaml.ScalarEvent) or event.anchor or event.tag:
                raise NeedsNodes  # a complex or anchored key
            if event.value == "<<" and event.style in ("", None):
                raise NeedsNodes  # a merge key
            raw = self.scalar_value(event, path)
            key = raw if isinstance(raw, str) else str(raw)
            line = _line(event)
            item = (*path, key)
            if key in result:
                self.doc.add(item, f"duplicate key (first at line {lines[item]})", line)
                self.skip(next(self.events))
                continue
            lines[item] = line
            result[key] = self.value(next(self.events), item)
        raise NeedsNodes  # the stream ended inside a mapping

    def sequence(self, path: YamlPath) -> list[object]:
        items: list[object] = []
        lines = self.doc.lines
        for event in self.events:
            if isinstance(event, yaml.SequenceEndEvent):
                return items
            item = (*path, len(items))
            lines[item] = _line(event)
            items.append(self.value(event, item))
        raise NeedsNodes

    def skip(self, event: yaml.Event) -> None:
        """Consume a value the node builder would not build (a duplicate key's)."""
        depth = 1 if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent) else 0
        while depth:
            event = next(self.events)
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1


def _line(event: yaml.Event) -> int:
    """The 1-based line where ``event`` starts (the parser always marks it)."""
    return event.start_mark.line + 1 if event.start_mark is not None else 0
