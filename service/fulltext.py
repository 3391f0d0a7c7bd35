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

The pages of a batch are fetched together (one session, the fetch settings'
``concurrency`` and ``per_host_concurrency``): one at a time, a batch of 100
teasers from one slow site took minutes and could outlast the task's time
limit. A host that does not answer (dns, connect, timeout, refused, 429/503)
is left alone for :data:`HOST_REST_SECONDS` (:class:`HostRest`): the rest of
its pages, in this batch and the next ones, are classified on their feed
text without waiting out the same failure again. Whatever is still being
fetched after :data:`BATCH_PAGES_SECONDS` is given up the same way, so the
pages never hold a batch near its time limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

import aiohttp
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
    attempted: bool = True  # False: not asked for (its host resting, the batch's time up)


class FullTextFetcher(Protocol):
    def fetch_many(self, urls: Sequence[str]) -> list[FullText]:
        """The page of each URL, in order; a failure is that page's ``error``."""
        ...


HOST_REST_SECONDS = 600.0  # a host that did not answer is left alone this long
BATCH_PAGES_SECONDS = 120.0  # a batch's pages all done or given up by then (task limit: 540 s)
_REMEMBERED_HOSTS = 1024  # past this, hosts whose rest is over are forgotten
_HOST_DOWN_KINDS = frozenset({"dns", "connect", "timeout", "refused-private"})
_HOST_BUSY_STATUSES = frozenset({429, 503})


class HostRest:
    """Hosts whose last page fetch said the host itself is down or refusing, until when.

    Pure (the clock is passed in): the fetcher asks before each page and tells
    it of each failure; a success or the end of the rest forgets the host.
    """

    def __init__(self, rest_seconds: float = HOST_REST_SECONDS) -> None:
        self._rest = rest_seconds
        self._until: dict[str, tuple[float, str]] = {}

    def resting(self, host: str, now: float) -> str | None:
        """Why ``host`` is left alone at ``now``, or None when it may be fetched."""
        entry = self._until.get(host)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._until[host]
            return None
        return entry[1]

    def failed(self, host: str, now: float, reason: str) -> None:
        if len(self._until) >= _REMEMBERED_HOSTS:  # months of failing hosts: keep the live ones
            self._until = {h: e for h, e in self._until.items() if e[0] > now}
        self._until[host] = (now + self._rest, reason)

    def __len__(self) -> int:
        return len(self._until)

    def answered(self, host: str) -> None:
        self._until.pop(host, None)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def says_host_is_down(result: FetchResult) -> bool:
    """Whether a failed page fetch is the host's state, not this page's (a 404 is the page's)."""
    if result.error is None:
        return False
    return result.error.kind in _HOST_DOWN_KINDS or result.status in _HOST_BUSY_STATUSES


class HttpFullTextFetcher:
    """Fetches a batch's article pages together with the poller's guarded client.

    ``fetch_many`` is synchronous (the worker's per-article code is) and runs
    its own short event loop; call it from a thread with no running loop.
    The host rest lives as long as the fetcher (one per configuration).
    """

    def __init__(
        self, settings: FetchSettings, *, batch_seconds: float = BATCH_PAGES_SECONDS,
        rest: HostRest | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._batch_seconds = batch_seconds
        self._rest = rest if rest is not None else HostRest()
        self._clock = clock

    def fetch_many(self, urls: Sequence[str]) -> list[FullText]:
        if not urls:
            return []
        results = asyncio.run(self._download_all(list(urls)))
        return [_page_of(url, result) for url, result in zip(urls, results, strict=True)]

    async def _download_all(self, urls: list[str]) -> list[FetchResult | str]:
        per_host: dict[str, asyncio.Semaphore] = {}
        async with make_session(self._settings) as session:
            tasks = [
                asyncio.create_task(self._download(session, url, per_host)) for url in urls
            ]
            done, pending = await asyncio.wait(tasks, timeout=self._batch_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        given_up = (f"not fetched: the batch's {self._batch_seconds:g} s for article pages "
                    "ran out")
        return [task.result() if task in done else given_up for task in tasks]

    async def _download(
        self, session: aiohttp.ClientSession, url: str, per_host: dict[str, asyncio.Semaphore],
    ) -> FetchResult | str:
        """The page, or why it was not fetched (its host is resting)."""
        host = host_of(url)
        gate = per_host.setdefault(host, asyncio.Semaphore(self._settings.per_host_concurrency))
        async with gate:
            reason = self._rest.resting(host, self._clock())
            if reason is not None:
                return f"not fetched: {host} is left alone for a while after {reason}"
            result = await fetch_feed(
                session, url, etag=None, last_modified=None, settings=self._settings
            )
        if says_host_is_down(result):
            self._rest.failed(host, self._clock(), str(result.error))
        elif result.error is None:
            self._rest.answered(host)
        return result


def _page_of(url: str, result: FetchResult | str) -> FullText:
    """What a download gave, as an article's page (the main text extracted here: CPU work)."""
    if isinstance(result, str):
        return FullText(url, error=result, attempted=False)
    if result.error is not None:
        return FullText(url, error=str(result.error))
    if result.body is None or not _is_html(result.content_type):
        return FullText(url, error=f"not an HTML page: {result.content_type or 'unknown'}")
    text = extract_main_text(result.body, result.final_url)
    return FullText(url, text=text, error=None if text else "no main text found")


def _is_html(content_type: str | None) -> bool:
    """HTML, or no type at all (trafilatura then decides)."""
    return content_type is None or content_type.split(";")[0].strip().lower() in HTML_TYPES
