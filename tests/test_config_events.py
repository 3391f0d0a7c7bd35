"""The event builder (service/config/yaml_events.py) builds what composing builds.

Plain YAML is built from the parser's events without a node tree (poller
memory with 100,000 feeds); whatever it does not handle is composed as
before. Either way the data, the line of every path and the problems must be
those of the node builder.
"""

from __future__ import annotations

import pytest

from service.config import yaml_events
from service.config.yaml_lines import YamlDocument, parse_yaml

PLAIN = [
    "",
    "---\n",
    "# only a comment\n",
    "feeds:\n  - url: https://a.example/feed.xml\n    name: A\n    interval: 15m\n",
    "a: 12\nb: 1.5\nc: true\nd: ~\ne:\nf: '12'\ng: \"x\\ty\"\nh: 0x1f\ni: 2024-01-02\n",
    "when: 2024-13-45\n",  # a timestamp that is not a date: reported, as composing does
    "a: 1\nb:\n  c: 2\na:\n  - nested: [1, 2]\n    more: {x: y}\n",  # a duplicate key skipped
    "1: one\nnull: none\ntrue: yes\n",  # keys that are not text become text
    "list: [a, 'b', {c: d}]\nmap: {k: v, n: 3}\n",
    "- just\n- a\n- list\n",
    "plain text\n",
    "feeds:\n- url: https://a.example/\n  name: >-\n    folded\n",  # a block: composed
    "a: &x 1\nb: *x\n",  # anchors and aliases: composed
    "base: &b {k: 1}\nother:\n  <<: *b\n",  # merge: composed
    "a: !!int 3\nb: !custom x\n",  # explicit tags: composed
    "a: 1\n---\nb: 2\n",  # two documents: composed (and refused there)
    "a: [1, 2\n",  # a syntax error: composed for its exact message
    "a: b: c\n",
    "? [complex]\n: key\n",
    "\ufeffa: 1\nb: yes\nc: .inf\nd: 1_000\ne: 0o17\n",  # a BOM; YAML 1.1 scalars
    "a: =\n",  # the !!value tag, refused as composing refuses it
    "a: 1\x85b: 2\n",  # a NEL line break counts as a line
    "a: \x07x\n",  # a control character: the same message
]


def _same(text: str) -> tuple[YamlDocument, YamlDocument]:
    return parse_yaml(text, "f.yaml"), parse_yaml(text, "f.yaml", events=False)


@pytest.mark.parametrize("text", PLAIN)
def test_events_and_nodes_build_the_same(text: str) -> None:
    fast, composed = _same(text)
    assert fast.data == composed.data
    assert fast.lines == composed.lines
    assert fast.problems == composed.problems
    assert fast.refused == composed.refused
    assert list(fast.queries) == list(composed.queries)


def test_plain_yaml_is_not_composed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("composed")

    monkeypatch.setattr("yaml.compose", refuse)
    doc = parse_yaml("feeds:\n  - url: https://a.example/\n    name: A\n", "feeds.yaml")
    assert doc.data == {"feeds": [{"url": "https://a.example/", "name": "A"}]}
    assert doc.lines[("feeds", 0, "name")] == 3


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: [1, 2\n", "a: |\n  t\n"])
def test_what_events_do_not_handle_is_composed(text: str) -> None:
    doc = YamlDocument("f.yaml")
    with pytest.raises(yaml_events.NeedsNodes):
        yaml_events.build_from_events(text, doc, lambda node, path: node.value)


def test_a_duplicate_key_reports_the_first_line_and_keeps_the_first_value() -> None:
    doc = parse_yaml("a: 1\nb: 2\na:\n  c: [3]\n", "f.yaml")
    assert doc.data == {"a": 1, "b": 2}
    assert [(p.line, p.key, p.message) for p in doc.problems] == [
        (3, "a", "duplicate key (first at line 1)")
    ]


@pytest.mark.parametrize("events", [True, False])
def test_nesting_too_deep_is_a_problem_not_a_crash(events: bool) -> None:
    doc = parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "f.yaml", events=events)
    assert [str(p) for p in doc.problems] == ["f.yaml: invalid YAML: nested too deeply"]
