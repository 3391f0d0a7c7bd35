"""OPML subscription lists in and out (``newswatch feeds import`` / ``export``).

Reading uses listparser (by feedparser's maintainer), which copes with the
OPML that feed readers really export; the DOCTYPE is cut first, as for feeds.
Writing is OPML 2.0 with the standard library's ElementTree. Pure: bytes in,
values out, and values in, bytes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree

import listparser
import yaml

from service.config.models import FeedConfig
from service.errors import FetchError
from service.poller.parse import strip_doctype


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None


@dataclass(frozen=True, slots=True)
class OpmlImport:
    feeds: tuple[OpmlFeed, ...]
    invalid: tuple[str, ...]  # "url: reason" of outlines that are no http(s) feed


def read_opml(data: bytes) -> OpmlImport:
    """The feeds an OPML document lists (nested outlines too), valid ones apart.

    Raises ``FetchError("parse")`` when the document is no OPML at all.
    """
    result = listparser.parse(strip_doctype(data))
    if not result.get("version") or (result.get("bozo") and not result.feeds):
        problem = result.get("bozo_exception") or "no <opml> element"
        raise FetchError("parse", f"not an OPML document: {problem}")
    feeds: dict[str, OpmlFeed] = {}
    invalid: list[str] = []
    for outline in result.feeds:
        url, title = str(outline.get("url", "")).strip(), outline.get("title") or None
        try:
            FeedConfig(url=url)
        except ValueError as e:
            invalid.append(f"{url or '(no url)'}: {_first_error(e)}")
            continue
        feeds.setdefault(url, OpmlFeed(url, str(title).strip() if title else None))
    return OpmlImport(tuple(feeds.values()), tuple(invalid))


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(error)


def write_opml(feeds: Sequence[OpmlFeed], title: str, now: datetime) -> bytes:
    """An OPML 2.0 document listing ``feeds``."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ElementTree.SubElement(root, "body")
    for feed in feeds:
        text = feed.title or feed.url
        ElementTree.SubElement(body, "outline", type="rss", text=text, title=text,
                               xmlUrl=feed.url)
    ElementTree.indent(root)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def yaml_entries(feeds: Sequence[OpmlFeed]) -> str:
    """``feeds`` as items of the ``feeds:`` list of feeds.yaml (indented two spaces).

    ``${`` is written ``$${``, so a ``${...}`` in an imported title stays literal.
    """
    if not feeds:
        return ""
    items = [
        {"url": _literal(f.url), **({"name": _literal(f.title)} if f.title else {})}
        for f in feeds
    ]
    text = yaml.safe_dump(items, allow_unicode=True, sort_keys=False, width=1000)
    return "".join(f"  {line}\n" for line in text.splitlines())


def _literal(value: str) -> str:
    return value.replace("${", "$${")
