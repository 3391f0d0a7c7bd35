"""Where a character of a YAML scalar's value stands in its file.

A topic query's syntax error has a column in the query; ops want the file's
line and column. A scalar's value is its text in the file less the quotes,
the indentation and line breaks folded into spaces or kept as newlines, and
with ``''`` standing for ``'``: walking the value and the file's text side by
side, every non-blank character of the value is the next non-blank character
of the file. Where that fails (escapes in a double-quoted scalar, a value
substituted from the environment) the position is not known, and the caller
falls back to where the scalar starts.
"""

from __future__ import annotations

import yaml

Position = tuple[int, int]  # 1-based line and column in the file


def scalar_start(node: yaml.ScalarNode) -> Position:
    """Where the scalar starts in the file (its quote or block indicator)."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def value_position(node: yaml.ScalarNode, value: str, offset: int) -> Position | None:
    """The file position of character ``offset`` (0-based; ``len(value)``: just after the
    last one) of ``value``, the value of ``node``; None when the file does not hold it as is."""
    buffer = node.start_mark.buffer
    if not buffer or value != node.value or not value:
        return None
    first, stop = _first_index(node, buffer), node.end_mark.index
    indexes = _value_indexes(buffer, first, stop, value, node.style == "'")
    if indexes is None:
        return None
    index = indexes[offset] if offset < len(indexes) else indexes[-1] + 1
    line_start = buffer.rfind("\n", 0, index) + 1
    return buffer.count("\n", 0, index) + 1, index - line_start + 1


def _first_index(node: yaml.ScalarNode, buffer: str) -> int:
    """Where the value's text starts: after the quote, or on the line after the indicator."""
    start = node.start_mark.index
    if node.style in ("|", ">"):
        return buffer.find("\n", start) + 1
    return start + 1 if node.style in ("'", '"') else start


def _value_indexes(
    buffer: str, start: int, stop: int, value: str, quoted: bool
) -> list[int] | None:
    """The index in ``buffer`` of each character of ``value``, or None if they do not align;
    ``quoted``: single-quoted, where ``''`` in the file is ``'`` in the value."""
    indexes: list[int] = []
    at = start
    for char in value:
        if char.isspace():  # a blank of the value: the next blank of the file, if any
            indexes.append(at)
            while at < stop and buffer[at].isspace():
                at += 1
                if char != " " and buffer[at - 1] == char:
                    break
            continue
        while at < stop and buffer[at].isspace():
            at += 1
        if at >= stop or buffer[at] != char:
            return None
        indexes.append(at)
        at += 2 if quoted and char == "'" and buffer[at + 1 : at + 2] == "'" else 1
    return indexes
