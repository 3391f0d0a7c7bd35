"""The parse stage: one fetched body in, a :class:`ParsedFeed` of plain text out.

Pure and picklable on both sides (bytes and strings in, frozen dataclasses
out), so it can run in a process pool. feedparser reads RSS 0.9x/1.0/2.0 and
Atom, recovering from the malformed feeds found in the wild; feedparser 6.0
does not read JSON Feed, so JSON Feed 1.0/1.1 is read here with ``json``.

Feeds are untrusted, so before feedparser sees a body:

- the DOCTYPE (with any internal subset and its entity declarations) is cut
  from the prolog, because feedparser expands internal entities (a
  quadratic-entity feed cost gigabytes and tens of seconds, MEASURED.md);
- feedparser only ever gets a file object over the bytes, never a string it
  could take for a path or a URL and open.

Every text field is reduced to plain text (so feedparser's HTML sanitising
and URI resolution are switched off: they cost half the time, MEASURED.md),
and entry links are made absolute and kept only when they are http(s).
A body that is no feed at all raises ``FetchError("parse", ...)``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from time import struct_time
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8

from service.domain import FeedEntry, ParsedFeed
from service.errors import FetchError
from service.poller.htmltext import simple_paragraphs

_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# A DOCTYPE with an optional internal subset; quoted strings may hold > [ ].
_DOCTYPE = re.compile(
    rb"""<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*')*"""
    rb"""(?:\[(?:[^\]"']|"[^"]*"|'[^']*')*\])?\s*>""",
    re.IGNORECASE,
)
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_MARKUP = re.compile(r"<[A-Za-z/!?]|&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_ESCAPED_HTML = re.compile(r"</(?:p|div|a|span|li|em|strong)>", re.IGNORECASE)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched feed body; ``url`` is the feed's URL (base for relative links).

    Raises ``FetchError("parse", ...)`` when the body holds no feed.
    """
    if _is_json(body):
        return _parse_json_feed(body, url)
    return _parse_xml_feed(body, url, content_type)


# --- XML feeds (feedparser) -------------------------------------------------


def _parse_xml_feed(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    utf8, encoding_problem = _to_utf8(body, content_type)
    data = strip_doctype(utf8)
    result = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    if not result.get("version") and not result.entries:
        raise FetchError("parse", f"no feed found: {url}: {_bozo_text(result) or 'empty'}")
    return _parsed_feed(result, url, encoding_problem)


def _to_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """The body as UTF-8 (decoded as feedparser would), and any encoding problem."""
    headers = {"content-type": content_type} if content_type else {}
    result: dict[str, Any] = {}
    data: bytes = convert_to_utf8(headers, body, result)
    problem = result.get("bozo_exception")
    return data, (str(problem) if problem is not None else None)


def strip_doctype(data: bytes) -> bytes:
    """``data`` without the DOCTYPE (and its entity declarations) of its prolog.

    Raises ``FetchError("parse")`` if a declaration is left that cannot be cut
    out cleanly (an unterminated internal subset, say): refusing beats
    expanding.
    """
    start = _DOCTYPE_START.search(data)
    first = _FIRST_ELEMENT.search(data)
    if start is not None and (first is None or start.start() < first.start()):
        match = _DOCTYPE.match(data, start.start())
        if match is not None:
            data = data[: match.start()] + data[match.end() :]
    prolog_end = _FIRST_ELEMENT.search(data)
    prolog = data[: prolog_end.start()] if prolog_end else data
    if _DECLARATION.search(prolog):
        raise FetchError("parse", "refused DOCTYPE or ENTITY declaration that cannot be removed")
    return data


def _parsed_feed(result: Any, url: str, encoding_problem: str | None) -> ParsedFeed:
    feed = result.feed
    entries = (_xml_entry(e, url) for e in result.entries)
    bozo_text = encoding_problem or _bozo_text(result)
    return ParsedFeed(
        title=_text_or_none(feed.get("title"), _detail_type(feed, "title")),
        link=_absolute(feed.get("link"), url),
        entries=tuple(e for e in entries if _has_substance(e)),
        bozo=bool(result.get("bozo")) or encoding_problem is not None,
        bozo_message=bozo_text,
        hub=_feed_link(feed, "hub", url), self_url=_feed_link(feed, "self", url),
    )


def _feed_link(feed: Any, rel: str, url: str) -> str | None:
    """The feed-level ``<link rel=...>`` href (WebSub discovery), absolute."""
    for link in feed.get("links") or ():
        if link.get("rel") == rel and link.get("href"):
            return _absolute(str(link["href"]), url)
    return None


def _bozo_text(result: Any) -> str | None:
    problem = result.get("bozo_exception")
    return str(problem) if problem is not None else None


def _xml_entry(entry: Any, feed_url: str) -> FeedEntry:
    link = _absolute(entry.get("link"), feed_url)
    return FeedEntry(
        guid=_clean_id(entry.get("id")) or link,
        url=link,
        title=to_text(entry.get("title", ""), _detail_type(entry, "title")),
        summary=to_text(entry.get("summary", ""), _detail_type(entry, "summary")),
        content=_content_text(entry.get("content") or ()),
        published=_entry_date(entry),
        author=_text_or_none(entry.get("author"), "text/plain"),
    )


def _detail_type(node: Mapping[str, Any], key: str) -> str:
    detail = node.get(f"{key}_detail") or {}
    return str(detail.get("type") or "text/html")


def _content_text(contents: Any) -> str:
    """The text of the first HTML content block (else the first block)."""
    blocks = list(contents)
    if not blocks:
        return ""
    html = [b for b in blocks if "html" in str(b.get("type", ""))]
    block = (html or blocks)[0]
    return to_text(block.get("value", ""), str(block.get("type") or "text/html"))


def _entry_date(entry: dict[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        # dict.get: FeedParserDict maps updated to published with a DeprecationWarning
        when = _from_struct(dict.get(entry, key))
        if when is not None:
            return when
    return None


def _from_struct(value: struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# --- JSON Feed ----------------------------------------------------------------


def _is_json(body: bytes) -> bool:
    """Sniffed, not trusted from Content-Type: servers label feeds wrongly."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    doc = _load_json_feed(body, url)
    items = doc.get("items")
    dicts = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    entries = (_json_entry(item, url) for item in dicts)
    return ParsedFeed(
        title=_text_or_none(_str(doc.get("title")), "text/plain"),
        link=_absolute(_str(doc.get("home_page_url")), url),
        entries=tuple(e for e in entries if _has_substance(e)),
        hub=_json_hub(doc, url), self_url=_absolute(_str(doc.get("feed_url")), url),
    )


def _json_hub(doc: Mapping[str, Any], url: str) -> str | None:
    hubs = doc.get("hubs")
    first = hubs[0] if isinstance(hubs, list) and hubs and isinstance(hubs[0], dict) else {}
    return _absolute(_str(first.get("url")), url) if first.get("type", "WebSub") else None


def _load_json_feed(body: bytes, url: str) -> dict[str, Any]:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FetchError("parse", f"invalid JSON feed: {url}: {exc}") from exc
    if not isinstance(doc, dict) or not _str(doc.get("version")).startswith(_JSON_FEED_VERSION):
        raise FetchError("parse", f"not a JSON Feed: {url}")
    return doc


def _json_entry(item: Mapping[str, Any], feed_url: str) -> FeedEntry:
    link = _absolute(_str(item.get("url")) or _str(item.get("external_url")), feed_url)
    html = _str(item.get("content_html"))
    content = to_text(html, "text/html") if html else to_text(_str(item.get("content_text")))
    return FeedEntry(
        guid=_clean_id(_str(item.get("id"))) or link,
        url=link,
        title=to_text(_str(item.get("title"))),
        summary=to_text(_str(item.get("summary"))),
        content=content,
        published=_iso_date(item.get("date_published")) or _iso_date(item.get("date_modified")),
        author=_json_author(item),
    )


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors")
    first = authors[0] if isinstance(authors, list) and authors else item.get("author")
    if isinstance(first, dict):
        return _text_or_none(_str(first.get("name")), "text/plain")
    return None


def _str(value: object) -> str:
    """A JSON scalar as a string (ids may be numbers); anything else as ""."""
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, str | int | float) else ""


def _iso_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# --- shared: links, ids, text -------------------------------------------------


def _absolute(link: str | None, base: str) -> str | None:
    """``link`` resolved against ``base``, or None unless it is http(s) with a host."""
    if not link:
        return None
    try:
        resolved = urljoin(base, link.strip())
        parts = urlsplit(resolved)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return resolved


def _clean_id(value: str | None) -> str | None:
    return value.strip() or None if value else None


def _has_substance(entry: FeedEntry) -> bool:
    return bool(entry.title or entry.url or entry.summary or entry.content)


def _text_or_none(value: str | None, content_type: str) -> str | None:
    return to_text(value, content_type) or None if value else None


def to_text(value: str | None, content_type: str = "text/plain") -> str:
    """Plain text: tags stripped, entities decoded, whitespace collapsed.

    Paragraph breaks (block elements, ``<br>``, blank lines in plain text) are
    kept as one ``"\\n"``. Plain text that still holds markup (RSS titles often
    do) is treated as HTML.
    """
    if not value:
        return ""
    if "html" in content_type or _MARKUP.search(value):
        return html_to_text(value)
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPHS.split(value))
    return "\n".join(p for p in paragraphs if p)


def html_to_text(html: str) -> str:
    """The visible text of an HTML fragment, one paragraph per line.

    HTML escaped twice (``&amp;lt;p&amp;gt;``, as Reddit serves it) still holds
    markup after one pass; one more pass turns it into text.
    """
    text = _strip_tags(html)
    return _strip_tags(text) if _ESCAPED_HTML.search(text) else text


def _strip_tags(html: str) -> str:
    simple = simple_paragraphs(html, _BLOCKS, _HIDDEN)  # the same text, 10x faster
    if simple is not None:
        return "\n".join(simple)
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return "\n".join(extractor.paragraphs)


# fmt: off
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
})
# fmt: on
_HIDDEN = frozenset({"script", "style", "template"})


class _TextExtractor(HTMLParser):
    """Collects text, starting a new paragraph at every block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._break()

    def _break(self) -> None:
        text = " ".join("".join(self._current).split())
        if text:
            self.paragraphs.append(text)
        self._current = []
