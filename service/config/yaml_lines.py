"""YAML text to plain data, remembering the line of every key and item.

PyYAML's ``safe_load`` forgets where values came from, so we compose the
node tree with ``SafeLoader`` and build the data ourselves, recording for
each path (``("feeds", 2, "url")``) the line of its key or sequence item and
its value node. Tags other than the safe ones are refused as problems, as are
duplicate keys; a syntax error becomes a problem with its line and column.
Nothing here raises for bad input: every problem is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from service.config.yaml_events import NeedsNodes, build_from_events, is_query
from service.errors import ConfigProblem

YamlPath = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAX_NODES = 200_000  # an alias bomb expands past this; a real config never does


@dataclass(slots=True)
class YamlDocument:
    """One file's data, the line of every path in it, and its problems.

    Only a topic ``query`` keeps its node, in ``queries`` (with its text as
    the marks' buffer): the loader finds the file line and column of a
    query's syntax error from it. Keeping every node kept the whole node tree
    alive while the models were built, about 3 KB per feed of a 100,000-feed
    feeds.yaml (bench_poller's registered-feeds RSS).
    """

    file: str
    data: object = None
    lines: dict[YamlPath, int] = field(default_factory=dict)  # 1-based line of key or item
    queries: dict[YamlPath, yaml.ScalarNode] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    refused: set[YamlPath] = field(default_factory=set)  # already reported; skip below
    substituted: set[YamlPath] = field(default_factory=set)  # from the environment: secret

    def line_of(self, path: YamlPath) -> int | None:
        """The line of ``path`` or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def add(
        self, path: YamlPath, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        """Record a problem at ``path`` (at its line unless ``line`` is given)."""
        line = self.line_of(path) if line is None else line
        self.problems.append(ConfigProblem(self.file, line, format_key(path), message, column))


def _place(doc: YamlDocument, path: YamlPath, line: int, node: yaml.Node) -> None:
    doc.lines[path] = line
    if isinstance(node, yaml.ScalarNode) and is_query(path):
        doc.queries[path] = node


def format_key(path: YamlPath) -> str | None:
    """``("feeds", 2, "url")`` -> ``feeds[2].url``; the empty path -> None."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or None


def parse_yaml(text: str, file: str, *, events: bool = True) -> YamlDocument:
    """Build ``text``'s data safely; an empty file is ``{}``.

    Straight from the parser's events when the text is plain YAML
    (``yaml_events``), else (or with ``events=False``) from its composed node tree.
    """
    try:
        return _parse_yaml(text, file, events)
    except RecursionError:  # both builders, and PyYAML's composer, recurse per level
        doc = YamlDocument(file)
        doc.problems.append(ConfigProblem(file, None, None, "invalid YAML: nested too deeply"))
        return doc


def _parse_yaml(text: str, file: str, events: bool) -> YamlDocument:
    doc = YamlDocument(file)
    if events:
        try:
            build_from_events(text, doc, _Builder(doc).scalar_value)
            return doc
        except NeedsNodes:
            doc = YamlDocument(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        doc.problems.append(_syntax_problem(file, exc))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(ConfigProblem(file, None, None, f"invalid YAML: {exc}"))
        return doc
    if root is None:
        doc.data = {}
        return doc
    _place(doc, (), root.start_mark.line + 1, root)
    try:
        # a node takes at least a character of text unless aliases repeat it: more
        # nodes than characters is an alias bomb, however long the file (100,000 feeds)
        doc.data = _Builder(doc, max(_MAX_NODES, len(text))).build(root, ())
    except _TooLarge:
        doc.problems.append(ConfigProblem(file, None, None, "too many nodes (alias bomb?)"))
        doc.refused.add(())
    return doc


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> ConfigProblem:
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem:
        message += f" ({exc.context})"
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return ConfigProblem(file, line, None, message, column)


def _tag_name(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


class _Builder:
    """Walks a node tree into dicts, lists and scalars, recording lines."""

    def __init__(self, doc: YamlDocument, max_nodes: int = _MAX_NODES) -> None:
        self.doc = doc
        self.max_nodes = max_nodes
        self.constructor = SafeConstructor()
        self.active: set[int] = set()
        self.count = 0

    def build(self, node: yaml.Node, path: YamlPath) -> object:
        self.count += 1
        if self.count > self.max_nodes:
            raise _TooLarge
        if id(node) in self.active:
            self._refuse(path, node, "recursive alias")
            return None
        self.active.add(id(node))
        try:
            return self._dispatch(node, path)
        finally:
            self.active.discard(id(node))

    def _dispatch(self, node: yaml.Node, path: YamlPath) -> object:
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            return self._sequence(node, path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar_value(node, path)
        self._refuse(path, node, f"YAML tag {_tag_name(node.tag)!r} is not allowed")
        return None

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[str, object]:
        try:
            self.constructor.flatten_mapping(node)
        except ConstructorError as exc:
            self._refuse(path, node, f"invalid merge: {exc.problem}")
            return {}
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in result:
                first = self.doc.lines[(*path, key)]
                self.doc.add((*path, key), f"duplicate key (first at line {first})", line)
                continue
            _place(self.doc, (*path, key), line, value_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _key(self, node: yaml.Node, path: YamlPath) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.doc.add(path, "a key must be a plain word", node.start_mark.line + 1)
            return None
        value = self.scalar_value(node, path)
        return value if isinstance(value, str) else str(value)

    def _sequence(self, node: yaml.SequenceNode, path: YamlPath) -> list[object]:
        items: list[object] = []
        for index, item in enumerate(node.value):
            _place(self.doc, (*path, index), item.start_mark.line + 1, item)
            items.append(self.build(item, (*path, index)))
        return items

    def scalar_value(self, node: yaml.ScalarNode, path: YamlPath) -> object:
        """A resolved scalar's value (also for ``yaml_events``); bad values reported."""
        value = self._scalar(node, path)
        self.constructor.constructed_objects.clear()  # it remembers every node otherwise
        return value

    def _scalar(self, node: yaml.ScalarNode, path: YamlPath) -> object:
        try:
            return self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            if node.tag in SafeConstructor.yaml_constructors:
                self._refuse(path, node, f"invalid {_tag_name(node.tag)} value: {exc.problem}")
            else:
                self._refuse(path, node, f"YAML tag {_tag_name(node.tag)!r} is not allowed")
        except ValueError as exc:
            self._refuse(path, node, f"invalid {_tag_name(node.tag)} value: {exc}")
        return None

    def _refuse(self, path: YamlPath, node: yaml.Node, message: str) -> None:
        self.doc.refused.add(path)
        self.doc.add(path, message, node.start_mark.line + 1)


class _TooLarge(Exception):
    """Raised when aliases expand a document past ``_MAX_NODES`` nodes."""
