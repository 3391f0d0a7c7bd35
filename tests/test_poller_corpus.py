"""The real feed corpus through the fetch and parse stages, served by a local server.

Every file goes through fetch + parse without an exception escaping; each
well-formed one yields its MANIFEST.tsv item count, every entry with a title
or a link, and the poller's fast parse path reads it exactly as feedparser does.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config.models import FetchSettings
from service.domain import ParsedFeed
from service.errors import FetchError
from service.poller import fastparse, fetch_feed, make_session, parse_feed
from tests.feedserver import FeedServer
from tests.test_parse import EXPECTED_COUNT_OVERRIDES, FEEDS, corpus_files, well_formed_rows

SETTINGS = FetchSettings(allow_private_addresses=True, timeout_seconds=10)


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        for path in corpus_files():
            kind = mimetypes.guess_type(path.name)[0] or "application/xml"
            server.reply(f"/{path.relative_to(FEEDS)}", path.read_bytes(),
                         headers={"Content-Type": kind})
        yield server


async def fetch_and_parse(server: FeedServer, relative: str) -> ParsedFeed:
    url = server.url(f"/{relative}")
    async with make_session(SETTINGS) as session:
        result = await fetch_feed(session, url, etag=None, last_modified=None, settings=SETTINGS)
    assert result.error is None and result.body is not None, result.error
    parsed = parse_feed(result.body, result.final_url, result.content_type)
    # the poller's parse (feedparser-rs for well-formed bodies) reads it the same
    assert fastparse.parse_feed(result.body, result.final_url, result.content_type) == parsed
    return parsed


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(FEEDS)))
async def test_every_corpus_file_goes_through_fetch_and_parse(
    corpus_server: FeedServer, path: Path
) -> None:
    try:
        parsed = await fetch_and_parse(corpus_server, str(path.relative_to(FEEDS)))
    except FetchError as error:
        assert error.kind == "parse"
        return
    assert all(e.url is None or e.url.startswith(("http://", "https://")) for e in parsed.entries)


@pytest.mark.parametrize("row", well_formed_rows(), ids=lambda r: r["file"])
async def test_well_formed_corpus_feeds_yield_their_item_count(
    corpus_server: FeedServer, row: dict[str, str]
) -> None:
    parsed = await fetch_and_parse(corpus_server, row["file"])

    assert len(parsed.entries) == EXPECTED_COUNT_OVERRIDES.get(row["file"], int(row["items"]))
    assert all(entry.title or entry.url for entry in parsed.entries)
