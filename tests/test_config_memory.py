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
queries:
  long: |
    (ukraine OR kyiv)
    AND ceasefire
"""


def test_only_block_scalars_keep_their_node() -> None:
    doc = parse_yaml(TEXT, "feeds.yaml")
    assert list(doc.blocks) == [("queries", "long")]
    block = doc.blocks[("queries", "long")]
    assert isinstance(block, yaml.ScalarNode) and block.style == "|"
    assert (doc.lines[("queries", "long")], doc.lines[("feeds", 0, "name")]) == (5, 3)


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
