"""A character of a YAML scalar's value found at its line and column in the file."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from service.config.scalar_position import scalar_start, value_position

STYLES = [None, "'", '"', "|", ">"]


def query_node(text: str) -> yaml.ScalarNode:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)
    node = root.value[0][1]
    assert isinstance(node, yaml.ScalarNode)
    return node


def char_at(text: str, line: int, column: int) -> str:
    return text.splitlines()[line - 1][column - 1]


WORDS = st.lists(
    st.text(alphabet="abcéЖ北()\"'@:*-", min_size=1, max_size=6), min_size=1, max_size=12
)


@given(WORDS, st.sampled_from(STYLES), st.integers(min_value=8, max_value=30))
def test_every_character_of_the_value_is_found_where_the_file_has_it(
    words: list[str], style: str | None, width: int
) -> None:
    value = " ".join(words)
    text = yaml.dump({"query": value}, default_style=style, width=width, allow_unicode=True)
    node = query_node(text)
    if node.value != value:  # the dumper chose another form (a plain scalar it cannot write)
        return
    for offset, char in enumerate(value):
        found = value_position(node, value, offset)
        if found is None:  # escapes: the caller falls back, never a wrong place
            assert node.style == '"'
            return
        if not char.isspace():
            assert char_at(text, *found) == char


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        ("query: a @ b\n", 2, (1, 10)),
        ("query: 'it''s @'\n", 5, (1, 15)),
        ("query: >\n  a OR\n  @b\n", 5, (3, 3)),
        ("query: |\n  a\n  b @\n", 4, (3, 5)),
        ("query: a AND\n", 5, (1, 13)),  # just after the end
        ("k: x\nquery:   'a'\n", 0, (2, 11)),
    ],
)
def test_positions(text: str, offset: int, expected: tuple[int, int]) -> None:
    node = query_node(text) if text.startswith("query") else _second(text)
    assert value_position(node, node.value, offset) == expected


def _second(text: str) -> yaml.ScalarNode:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)
    node = root.value[1][1]
    assert isinstance(node, yaml.ScalarNode)
    return node


def test_escapes_and_other_values_are_not_placed() -> None:
    node = query_node('query: "a\\tb @"\n')
    assert value_position(node, node.value, 4) is None
    assert scalar_start(node) == (1, 8)
    plain = query_node("query: a ${X}\n")
    assert value_position(plain, "a @ b", 2) is None  # substituted: not the file's text
