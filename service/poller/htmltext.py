"""Plain text of simple HTML fragments without ``html.parser``: the parse stage's hot loop.

Turning each entry's HTML into text with ``html.parser.HTMLParser`` cost
about 40% of parsing a changed feed (bench_poller: 20 entries of 1.5 KB
HTML, ~2 ms a feed), more than feedparser-rs takes for the whole XML. Most
feed HTML is simple: text, start tags with well-quoted attributes, end tags.
For exactly that, :func:`simple_paragraphs` gives the same paragraphs as the
``HTMLParser`` extractor in ``service.poller.parse`` with one regular
expression. Anything else (comments, ``<!``/``<?`` declarations, a ``<``
that is not a simple tag, a script/style/template element, odd tag or
attribute names) returns None, and the caller uses ``HTMLParser``: the fast
path never guesses. tests/test_fastparse.py checks the two agree on
generated fragments and on every text field of the feed corpus.

Why the output is the same: ``HTMLParser`` (``convert_charrefs=True``)
unescapes the data between two tags as one unit, lowercases tag names, and
the extractor only looks at tag names (a ``<br/>`` is a start and an end tag
of the same name: two paragraph breaks, the second one empty).
"""

from __future__ import annotations

import re
from html import unescape

_SPACE = "[ \t\n\r\f]"  # ASCII only: HTMLParser takes U+00A0 and friends into a tag name
_ATTRIBUTE = (rf"""{_SPACE}+[a-zA-Z_:][-a-zA-Z0-9_:.]*"""
              rf"""(?:{_SPACE}*={_SPACE}*(?:"[^"]*"|'[^']*'|[^ \t\n\r\f"'=<>`]+))?""")
_TAG = re.compile(
    rf"<(?:([a-zA-Z][a-zA-Z0-9]*)(?:{_ATTRIBUTE})*{_SPACE}*/?|/([a-zA-Z][a-zA-Z0-9]*){_SPACE}*)>"
)


def simple_paragraphs(
    html: str, blocks: frozenset[str], hidden: frozenset[str]
) -> list[str] | None:
    """The text paragraphs of ``html`` (a break at each tag in ``blocks``),
    or None when ``html`` is not simple enough to be sure (see the module doc)."""
    parts = _TAG.split(html)  # text, start name, end name, text, ... (in C)
    texts = parts[::3]
    if any("<" in text for text in texts):
        return None  # a "<" that is no simple tag
    paragraphs: list[str] = []
    current: list[str] = [_data(texts[0])]
    for index in range(1, len(parts), 3):
        name = (parts[index] or parts[index + 1]).lower()
        if name in hidden:
            return None
        if name in blocks:
            _close(current, paragraphs)
            current = []
        current.append(_data(parts[index + 2]))
    _close(current, paragraphs)
    return paragraphs


def _data(text: str) -> str:
    return unescape(text) if "&" in text else text


def _close(current: list[str], paragraphs: list[str]) -> None:
    text = " ".join("".join(current).split())
    if text:
        paragraphs.append(text)
