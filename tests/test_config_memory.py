"""A large feeds.yaml does not keep its YAML node tree alive (poller RSS, issue 3)."""

from __future__ import annotations

import gc
import hashlib
import json
import weakref
from pathlib import Path

import pytest
import yaml

from service.config import ConfigError, load_config
from service.config.memory import release_free_memory
from service.config.models import FeedConfig
from service.config.yaml_lines import parse_yaml
from service.storage.feeds import config_hash

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
    assert list(doc.queries) == [("topics", 0, "query"), ("topics", 1, "query")]
    block, plain = doc.queries[("topics", 0, "query")], doc.queries[("topics", 1, "query")]
    assert isinstance(block, yaml.ScalarNode) and block.style == "|"
    assert plain.value == "baku OR paris"
    assert (doc.lines[("topics", 0, "query")], doc.lines[("feeds", 0, "name")]) == (5, 3)


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


def test_a_feed_entry_is_slotted_and_hashes_as_its_json_entry() -> None:
    feed = FeedConfig(url=" https://a.example/f.xml ", name="A", interval="30m")  # type: ignore[arg-type]
    assert not hasattr(feed, "__dict__")  # 100,000 of them: no per-instance dict
    assert feed.url == "https://a.example/f.xml"
    # the stored config_hash of an entry must not change with the model's kind
    entry = {
        "url": "https://a.example/f.xml",
        "name": "A",
        "interval": "PT30M",
        "full_text": "auto",
    }
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    assert config_hash(feed) == hashlib.sha256(text.encode()).hexdigest()


def test_feed_entry_problems_keep_their_messages(tmp_path: Path) -> None:
    root = tmp_path
    (root / "feeds.yaml").write_text(
        "feeds:\n  - url: https://a.example/\n    colour: red\n  - just-a-string\n"
        "  - name: no url\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    found = [(p.line, p.key, p.message) for p in caught.value.problems]
    assert found == [
        (3, "feeds[0].colour", "unknown key"),
        (4, "feeds[1]", "must be a mapping of keys to values, not 'just-a-string'"),
        (5, "feeds[2].url", "required key is missing"),
    ]
