"""Thin entries: fetch the article page and extract its main text before classifying.

Many feeds carry only a headline and a line of teaser; a watchlist cannot see
an entity or an event that is only in the article. Per feed, ``full_text``
says what to do (``never``, ``always``, or ``auto``: only when the entry's
text has fewer than ``full_text.min_words`` words). The page is fetched by
the poller's guarded fetch (:func:`service.poller.fetch.fetch_feed`), so the
same limits hold: http(s) only, private addresses refused at connect time and
after redirects, at most ``max_redirects`` hops, one deadline, the body
capped after decompression. trafilatura extracts the main text (no
navigation, comments or boilerplate) from the HTML, without any network
access of its own.

Decision (:func:`wants_full_text`) and extraction (:func:`extract_main_text`)
are pure; :class:`HttpFullTextFetcher` is the I/O edge, called from the
worker. A failed fetch is that article's result: it is classified on its
feed text and the error is logged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol

import structlog

from service.config.models import FetchSettings
from service.poller.fetch import FetchResult, fetch_feed, make_session
from service.text.normalize import count_words

log = structlog.get_logger("newswatch.fulltext")

FullTextPolicy = Literal["auto", "always", "never"]
HTML_TYPES = ("text/html", "application/xhtml+xml")


def word_count(*texts: str, at_most: int | None = None) -> int:
    """How many words the matcher would see in ``texts`` together; with ``at_most``,
    no more than that (enough to compare with a threshold, without reading it all)."""
    total = 0
    for text in texts:
        left = None if at_most is None else at_most - total
        total += count_words(text, left)
        if at_most is not None and total >= at_most:
            return at_most
    return total


def wants_full_text(policy: FullTextPolicy, feed_words: int, min_words: int) -> bool:
    """Whether to fetch the page of an entry whose feed text has ``feed_words`` words."""
    if policy == "never":
        return False
    return policy == "always" or feed_words < min_words


def extract_main_text(html: bytes | str, url: str | None = None) -> str | None:
    """The main text of an HTML page (paragraphs separated by line breaks), or None."""
    # imported on first use: trafilatura and lxml.html are ~13 MB that a poller
    # without thin entries (or handing its work to Celery workers) never needs
    import trafilatura

    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, favor_precision=True
    )
    return text.strip() or None if isinstance(text, str) else None


@dataclass(frozen=True, slots=True)
class FullText:
    """What fetching one article page gave: its main text, or why there is none."""

    url: str
    text: str | None = None
    error: str | None = None


class FullTextFetcher(Protocol):
    def fetch(self, url: str) -> FullText: ...


class HttpFullTextFetcher:
    """Fetches one article page at a time with the poller's guarded client.

    ``fetch`` is synchronous (the worker's per-article code is) and runs its
    own short event loop; call it from a thread with no running loop.
    """

    def __init__(self, settings: FetchSettings) -> None:
        self._settings = settings

    def fetch(self, url: str) -> FullText:
        result = asyncio.run(self._download(url))
        if result.error is not None:
            return FullText(url, error=str(result.error))
        if result.body is None or not _is_html(result.content_type):
            return FullText(url, error=f"not an HTML page: {result.content_type or 'unknown'}")
        text = extract_main_text(result.body, result.final_url)
        return FullText(url, text=text, error=None if text else "no main text found")

    async def _download(self, url: str) -> FetchResult:
        async with make_session(self._settings) as session:
            return await fetch_feed(
                session, url, etag=None, last_modified=None, settings=self._settings
            )


def _is_html(content_type: str | None) -> bool:
    """HTML, or no type at all (trafilatura then decides)."""
    return content_type is None or content_type.split(";")[0].strip().lower() in HTML_TYPES
