"""The parse stage's fast path: feedparser-rs, only for bodies proven well-formed.

feedparser (``service.poller.parse``) costs ~3 ms for a 20-item feed; the
poller's target of 300 changed feeds/s on two cores leaves ~6 ms for fetch,
parse and store together. feedparser-rs parses the same feed in ~0.1 ms and
agrees with feedparser on well-formed feeds, but on malformed or mis-encoded
ones it silently loses items or text (MEASURED.md). So it only gets a body
when nothing is in doubt:

- not a JSON Feed (``parse.parse_feed`` reads those);
- decoded by feedparser's own rules (``convert_to_utf8``) without any
  encoding problem;
- no ``<!DOCTYPE`` or ``<!ENTITY`` anywhere: no declared entity can exist,
  so nothing can be expanded;
- well-formed for the stdlib ``expat`` (which then knows only the five XML
  entities and refuses any other reference; parameter-entity parsing off and
  a DOCTYPE handler that refuses, in case), with its root an ``rss``,
  ``RDF`` or ``feed`` element;
- feedparser-rs does not flag it, names a version, and returns exactly as
  many entries as the XML has ``item``/``entry`` elements;
- every text field it returns reads the same whichever way feedparser would
  type it (``text/plain`` or ``text/html``): markup, or plain words without
  ``&`` or blank lines.

Otherwise :func:`parse_feed` hands the body to ``parse.parse_feed``, so the
result is always what that gives (tests/test_fastparse.py: entry by entry
on the feed corpus). The output is normalised the same way: plain text via
``to_text``'s rules, http(s) links resolved against the feed URL, UTC dates.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

import feedparser_rs

from service.domain import FeedEntry, ParsedFeed
from service.poller import parse as reference
from service.poller.parse import html_to_text

_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ATOM = "http://www.w3.org/2005/Atom"
_RSS1 = "http://purl.org/rss/1.0/"
_DC = "http://purl.org/dc/elements/1.1/"
_MEDIA = "http://search.yahoo.com/mrss/"
_ROOTS = frozenset({"rss", "http://www.w3.org/1999/02/22-rdf-syntax-ns# RDF", f"{_ATOM} feed"})
_ENTRIES = frozenset({"item", f"{_RSS1} item", f"{_ATOM} entry"})
# The elements an entry may hold for the fast path: those on which feedparser-rs
# and feedparser were seen to agree (the corpus). Others (dc:*, media:*,
# itunes:*, content:encoded, ...) are mapped differently: feedparser decides.
_ENTRY_CHILDREN = frozenset({
    "title", "link", "description", "guid", "pubDate", "category", "comments", "enclosure",
    f"{_RSS1} title", f"{_RSS1} link", f"{_RSS1} description",
    f"{_ATOM} id", f"{_ATOM} title", f"{_ATOM} link", f"{_ATOM} updated", f"{_ATOM} published",
    f"{_ATOM} summary", f"{_ATOM} content", f"{_ATOM} author", f"{_ATOM} category",
    "author", f"{_DC} creator", f"{_DC} date", f"{_DC} identifier", f"{_DC} language",
    f"{_DC} format", "http://purl.org/rss/1.0/modules/content/ encoded",
    f"{_MEDIA} thumbnail",
    "http://rssnamespace.org/feedburner/ext/1.0 origLink",
})
# an Atom author of the whole feed: feedparser-rs gives it to every entry, feedparser not
_FEED_DOUBTS = frozenset({f"{_ATOM} author"})
_WEBSUB_LINK = f"{_ATOM} link"
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
    r"|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (?:GMT|UTC?|Z|[+-]\d{4})"
)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


class _Doubt(Exception):
    """The fast path is not sure: use feedparser."""


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """What ``service.poller.parse.parse_feed`` returns, faster when the body allows it."""
    fast = fast_parse(body, url, content_type)
    return fast if fast is not None else reference.parse_feed(body, url, content_type)


def fast_parse(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed | None:
    """The parsed feed, or None when the body is not proven well-formed."""
    if reference._is_json(body):
        return None
    utf8, encoding_problem = reference._to_utf8(body, content_type)
    if encoding_problem is not None or _DECLARATION.search(utf8):
        return None
    try:
        shape = _inspect(utf8)
        return _normalised(_rust_parse(utf8, shape.entries), shape, url)
    except _Doubt:
        return None


@dataclass(frozen=True, slots=True)
class _Shape:
    """What expat saw: the number of entries, the feed's WebSub links."""

    entries: int
    links: Mapping[str, str]


def _inspect(data: bytes) -> _Shape:
    """The feed's shape, if ``data`` is well-formed XML without a DTD and holds
    nothing the fast path is unsure of."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    path: list[str] = []
    entry_depth = 0  # the depth of the entry being read, 0 outside entries
    count = 0
    links: dict[str, str] = {}  # rel (hub, self) -> the first href, as feedparser keeps

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal entry_depth, count
        if not path and name not in _ROOTS:
            raise _Doubt(f"not a feed root: {name}")
        if entry_depth and len(path) == entry_depth and name not in _ENTRY_CHILDREN:
            raise _Doubt(f"entry element {name}")
        if not entry_depth and name in _ENTRIES:
            entry_depth, count = len(path) + 1, count + 1
        elif not entry_depth and _at_feed_level(path):
            if name in _FEED_DOUBTS:
                raise _Doubt(f"feed element {name}")
            rel = attributes.get("rel")
            if name == _WEBSUB_LINK and rel in ("hub", "self") and attributes.get("href"):
                links.setdefault(rel, attributes["href"])
        path.append(name)

    def end(_name: str) -> None:
        nonlocal entry_depth
        if len(path) == entry_depth:
            entry_depth = 0
        path.pop()

    def refuse(*_args: object) -> None:
        raise _Doubt("DOCTYPE")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise _Doubt(str(error)) from error
    return _Shape(count, links)


def _at_feed_level(path: list[str]) -> bool:
    """Whether an element under ``path`` is a child of the feed (Atom) or channel (RSS)."""
    return len(path) == 1 or (len(path) == 2 and path[1].rpartition(" ")[2] == "channel")


def _rust_parse(data: bytes, items: int) -> Any:
    try:
        result = feedparser_rs.parse(data, sanitize_html=False, resolve_relative_uris=False)
    except Exception as error:  # a Rust panic or anything else: feedparser decides
        raise _Doubt(str(error)) from error
    if result.bozo or not result.version or len(result.entries) != items:
        raise _Doubt("feedparser-rs disagrees with expat")
    return result


# --- normalising, as parse._parsed_feed does ------------------------------------------------


def _normalised(result: Any, shape: _Shape, url: str) -> ParsedFeed:
    feed = result.feed
    entries = (_entry(e, url) for e in result.entries)
    return ParsedFeed(
        title=_text(feed.title) or None,
        link=reference._absolute(feed.link, url),
        entries=tuple(e for e in entries if reference._has_substance(e)),
        bozo=False,
        bozo_message=None,
        hub=reference._absolute(shape.links.get("hub"), url),
        self_url=reference._absolute(shape.links.get("self"), url),
    )


def _entry(entry: Any, feed_url: str) -> FeedEntry:
    if "&" in (entry.link or "") + (entry.id or ""):
        raise _Doubt("feedparser-rs leaves &amp; in links")
    for when in (entry.published, entry.updated):
        if when and not (_RFC822.fullmatch(when.strip()) or _RFC3339.fullmatch(when.strip())):
            raise _Doubt(f"date {when!r}: the two parsers read loose dates differently")
    link = reference._absolute(entry.link, feed_url)
    return FeedEntry(
        guid=reference._clean_id(entry.id) or link,
        url=link,
        title=_text(entry.title),
        summary=_text(entry.summary),
        content=_content(entry.content),
        published=reference._from_struct(entry.published_parsed)
        or reference._from_struct(entry.updated_parsed),
        author=_text(entry.author) or None,
    )


def _content(blocks: Iterable[Any]) -> str:
    """The first HTML content block (else the first block), as ``parse._content_text``."""
    listed = list(blocks or ())
    if not listed:
        return ""
    html = [b for b in listed if "html" in str(b.type or "")]
    return _text((html or listed)[0].value)


def _text(value: str | None) -> str:
    """``to_text(value, t)`` for either type feedparser might give, or doubt.

    Markup makes ``to_text`` read it as HTML whatever the type; plain words
    read the same both ways unless they hold ``&`` (HTML would decode
    ``&copy`` without its ``;``) or a blank line (plain text keeps the
    paragraph break, HTML does not).
    """
    if not value:
        return ""
    if reference._MARKUP.search(value):
        return html_to_text(value)
    if "&" in value or ("\n" in value and reference._PARAGRAPHS.search(value)):
        raise _Doubt("text whose reading depends on its type")
    return " ".join(value.split())


def ignore_interrupts() -> None:
    """Parse workers leave Ctrl-C to the main process, which shuts them down.

    The pool's initializer lives here, beside ``parse_feed``: a spawned parse
    worker imports only the modules of the functions it is handed, so it starts
    with the parser alone, not the whole service (seconds of CPU per worker).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
