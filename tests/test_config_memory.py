"""A large feeds.yaml does not keep its YAML node tree alive (poller RSS, issue 3)."""

from __future__ import annotations

import gc
import weakref

import pytest
import yaml

from service.config.memory import release_free_memory
from service.config.yaml_lines import parse_yaml

TEXT = """\
feeds:
  - url: https://a.example/feed.xml
    name: A
topics:
  - query: |
      (ukraine OR kyiv)
      AND ceasefire
  - query: baku OR paris
notes: |
  a block that is not a query
"""


def test_only_queries_keep_their_node() -> None:
    doc = parse_yaml(TEXT, "feeds.yaml")
    assert doc.spots[("feeds", 0, "url")].node is None
    assert doc.spots[("feeds", 0)].node is None
    assert doc.spots[()].node is None
    assert doc.spots[("notes",)].node is None
    block, plain = doc.spots[("topics", 0, "query")], doc.spots[("topics", 1, "query")]
    assert isinstance(block.node, yaml.ScalarNode) and block.node.style == "|"
    assert isinstance(plain.node, yaml.ScalarNode) and plain.node.value == "baku OR paris"
    assert (block.line, doc.spots[("feeds", 0, "name")].line) == (5, 3)


def test_the_node_tree_is_garbage_once_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    roots: list[weakref.ref[yaml.Node]] = []
    compose = yaml.compose

    def observed(stream: str, Loader: type[yaml.SafeLoader]) -> yaml.Node | None:
        root = compose(stream, Loader=Loader)
        if root is not None:
            roots.append(weakref.ref(root))
        return root

    monkeypatch.setattr(yaml, "compose", observed)  # observed, not replaced
    doc = parse_yaml(TEXT, "feeds.yaml")
    release_free_memory()
    gc.collect()
    assert doc.data and len(roots) == 1
    assert roots[0]() is None
