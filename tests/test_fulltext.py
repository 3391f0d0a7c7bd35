"""Thin entries: the article page is fetched (guarded) and its main text classified."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from sqlalchemy import select

from service.config.models import Config, FeedConfig, FetchSettings, Settings, Watchlists
from service.domain import FeedEntry
from service.fulltext import (
    FullTextPolicy,
    HostRest,
    HttpFullTextFetcher,
    extract_main_text,
    wants_full_text,
    word_count,
)
from service.pipeline import Processor, process_articles
from service.storage import ArticleStore, Database, FeedStore
from service.storage.models import ArticleRow, MatchRow
from tests.feedserver import FeedServer

NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
ALLOW_LOOPBACK = FetchSettings(allow_private_addresses=True, timeout_seconds=10)

ARTICLE = (
    "On May 27, Azerbaijan's President Ilham Aliyev pardoned the French national "
    "Théo Clerc, who had been convicted of hooliganism for painting graffiti on a "
    "Baku metro train in March 2024. The decision was welcomed in Paris as a sign "
    "that relations between the two countries, strained for several years, may be "
    "entering a calmer period. Diplomats on both sides said further talks were planned."
)
PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><title>Pardon</title></head>
<body>
  <nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li></ul></nav>
  <article>
    <h1>Pardon of French national</h1>
    <p>{ARTICLE}</p>
    <p>{ARTICLE.replace("On May 27", "Later")}</p>
  </article>
  <footer>Subscribe to our newsletter. Cookie policy. Contact us.</footer>
</body></html>""".encode()

WATCHLISTS = Watchlists.model_validate(
    {
        "entities": [
            {"id": "ilham-aliyev", "name": "Ilham Aliyev", "aliases": ["Aliyev"]},
            {"id": "theo-clerc", "name": "Théo Clerc"},
        ],
        "events": [{"id": "pardon", "triggers": ["pardon*"]}],
        "subscriptions": [
            {"id": "pardons", "notify": ["json://127.0.0.1:9/"], "events": ["pardon"]}
        ],
    }
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.reply("/article", PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
        yield running


@pytest.mark.parametrize(
    ("policy", "feed_words", "expected"),
    [
        ("auto", 12, True),
        ("auto", 59, True),
        ("auto", 60, False),
        ("auto", 500, False),
        ("always", 500, True),
        ("never", 0, False),
    ],
)
def test_when_a_page_is_wanted(policy: FullTextPolicy, feed_words: int, expected: bool) -> None:
    assert wants_full_text(policy, feed_words, min_words=60) is expected


def test_word_count_counts_the_matchers_words() -> None:
    assert word_count("Théo Clerc's pardon", "", "Алиев — помиловал.") == 6


def test_word_count_with_a_ceiling_stops_there_and_is_exact_below_it() -> None:
    texts = ("Théo Clerc's pardon", "", "Алиев — помиловал.")
    assert [word_count(*texts, at_most=n) for n in (0, 3, 4, 6, 7, 60)] == [0, 3, 4, 6, 6, 6]


def test_extraction_keeps_the_article_and_drops_navigation_and_footer() -> None:
    text = extract_main_text(PAGE, "https://example.org/article")
    assert text is not None
    assert "Ilham Aliyev pardoned the French national" in text
    assert "Cookie policy" not in text
    assert "World" not in text.split()


def test_extraction_of_a_page_without_text_is_none() -> None:
    assert extract_main_text(b"<html><body><script>var a = 1;</script></body></html>") is None


def test_fetcher_gets_and_extracts_a_page(server: FeedServer) -> None:
    page = HttpFullTextFetcher(ALLOW_LOOPBACK).fetch_many([server.url("/article")])[0]
    assert page.error is None
    assert page.text is not None and "Théo Clerc" in page.text


def test_fetcher_refuses_private_addresses_by_default(server: FeedServer) -> None:
    page = HttpFullTextFetcher(FetchSettings()).fetch_many([server.url("/article")])[0]
    assert page.text is None
    assert page.error is not None and page.error.startswith("refused-private")
    assert server.requests_to("/article") == []


def test_fetcher_keeps_the_size_limit(server: FeedServer) -> None:
    settings = FetchSettings(allow_private_addresses=True, max_bytes=100)
    page = HttpFullTextFetcher(settings).fetch_many([server.url("/article")])[0]
    assert page.text is None
    assert page.error is not None and page.error.startswith("too-large")


def test_fetcher_reports_http_errors_and_non_html(server: FeedServer) -> None:
    server.reply("/data.json", b"{}", headers={"Content-Type": "application/json"})
    missing = HttpFullTextFetcher(ALLOW_LOOPBACK).fetch_many([server.url("/missing")])[0]
    assert missing.error == "http: HTTP 404 Not Found"
    json_page = HttpFullTextFetcher(ALLOW_LOOPBACK).fetch_many([server.url("/data.json")])[0]
    assert json_page.error == "not an HTML page: application/json"


def _config(url: str, policy: FullTextPolicy) -> Config:
    feed = FeedConfig(url="https://feeds.example/rss", full_text=policy)
    settings = Settings(fetch=ALLOW_LOOPBACK)
    return Config(
        directory=url, settings=settings, feeds=(feed,), watchlists=WATCHLISTS, version="1"
    )


def _process(database: Database, config: Config, entry: FeedEntry) -> ArticleRow:
    feed_id = FeedStore(database).sync(config.feeds, NOW)[config.feeds[0].url].id
    (article_id,) = ArticleStore(database).add_entries(feed_id, [entry], NOW)
    report = process_articles(database, Processor.from_config(config), [article_id], lambda: NOW)
    assert report.processed == 1
    with database.session() as session:
        return session.get_one(ArticleRow, article_id)


def _match_ids(database: Database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(MatchRow.ref_id)))


def _thin(url: str) -> FeedEntry:
    return FeedEntry("g1", url, "Azerbaijan frees French national", "Read more.", "", NOW)


def test_thin_entry_is_classified_on_its_page_and_language_is_stored(
    database: Database, server: FeedServer
) -> None:
    row = _process(database, _config(server.url("/"), "auto"), _thin(server.url("/article")))
    assert len(server.requests_to("/article")) == 1
    assert row.full_text is not None and "Théo Clerc" in row.full_text
    assert row.full_text_error is None
    assert row.language == "en"
    assert _match_ids(database) == {"ilham-aliyev", "theo-clerc", "pardon"}


def test_never_does_not_fetch(database: Database, server: FeedServer) -> None:
    row = _process(database, _config(server.url("/"), "never"), _thin(server.url("/article")))
    assert server.requests_to("/article") == []
    assert row.full_text is None
    assert _match_ids(database) == set()


def test_auto_does_not_fetch_a_long_entry_but_always_does(
    database: Database, server: FeedServer
) -> None:
    entry = FeedEntry("g1", server.url("/article"), "Pardon", "", ARTICLE, NOW)
    _process(database, _config(server.url("/"), "auto"), entry)
    assert server.requests_to("/article") == []
    assert _match_ids(database) == {"ilham-aliyev", "theo-clerc", "pardon"}
    other = FeedEntry("g2", server.url("/article"), "Pardon", "", ARTICLE, NOW)
    row = _process(database, _config(server.url("/"), "always"), other)
    assert len(server.requests_to("/article")) == 1
    assert row.full_text is not None


def test_a_failed_page_leaves_the_feed_text_and_records_why(
    database: Database, server: FeedServer
) -> None:
    entry = FeedEntry("g1", server.url("/gone"), "Aliyev pardons prisoners", "", "", NOW)
    row = _process(database, _config(server.url("/"), "auto"), entry)
    assert row.full_text is None
    assert row.full_text_error == "http: HTTP 404 Not Found"
    assert row.language is None  # four words: too short to tell
    assert _match_ids(database) == {"ilham-aliyev", "pardon"}


# --- a batch's pages: together, hosts that do not answer left alone ---------------


def test_a_batchs_pages_are_fetched_together(server: FeedServer) -> None:
    """Each page answers only once all three requests are in: one at a time would fail."""
    arrived = 0
    all_in = asyncio.Event()

    async def page(request: web.Request) -> web.StreamResponse:
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), timeout=5)
        except TimeoutError:
            return web.Response(status=504, text="the other pages never came")
        return web.Response(body=PAGE, content_type="text/html")

    for path in ("/p1", "/p2", "/p3"):
        server.add(path, page)
    settings = FetchSettings(allow_private_addresses=True, timeout_seconds=10,
                             per_host_concurrency=3)
    pages = HttpFullTextFetcher(settings).fetch_many(
        [server.url("/p1"), server.url("/p2"), server.url("/p3")]
    )
    assert [p.error for p in pages] == [None, None, None]
    assert all(p.text is not None and "Théo Clerc" in p.text for p in pages)
    assert [p.url for p in pages] == [server.url(f"/p{n}") for n in (1, 2, 3)]


def test_a_host_that_does_not_answer_is_left_alone_then_tried_again(server: FeedServer) -> None:
    server.reply("/busy", b"busy", status=503)
    server.reply("/other", b"busy", status=503)
    now = [1000.0]
    settings = FetchSettings(allow_private_addresses=True, timeout_seconds=10,
                             per_host_concurrency=1)
    fetcher = HttpFullTextFetcher(settings, rest=HostRest(600), clock=lambda: now[0])
    first = fetcher.fetch_many([server.url("/busy"), server.url("/other"), server.url("/other")])
    assert len(server.requests) == 1  # per host one at a time: the first 503 stops the rest
    assert first[0].error == "http: HTTP 503 Service Unavailable"
    assert first[0].attempted
    for skipped in first[1:]:
        assert skipped.text is None and not skipped.attempted
        assert skipped.error == ("not fetched: 127.0.0.1 is left alone for a while after "
                                 "http: HTTP 503 Service Unavailable")
    now[0] += 599
    fetcher.fetch_many([server.url("/other")])  # the next batch, still within the rest
    assert len(server.requests) == 1
    now[0] += 2
    server.reply("/other", PAGE, headers={"Content-Type": "text/html"})
    (page,) = fetcher.fetch_many([server.url("/other")])
    assert page.error is None and page.text is not None
    assert len(server.requests) == 2


def test_a_missing_page_does_not_stop_the_hosts_other_pages(server: FeedServer) -> None:
    settings = FetchSettings(allow_private_addresses=True, timeout_seconds=10,
                             per_host_concurrency=1)
    pages = HttpFullTextFetcher(settings).fetch_many(
        [server.url("/missing"), server.url("/article")]
    )
    assert pages[0].error == "http: HTTP 404 Not Found"
    assert pages[1].error is None
    assert len(server.requests) == 2


def test_pages_still_out_when_the_batchs_time_is_up_are_given_up(server: FeedServer) -> None:
    release = threading.Event()

    async def never(request: web.Request) -> web.StreamResponse:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 60)
        return web.Response(body=PAGE, content_type="text/html")

    server.add("/stuck", never)
    try:
        fetcher = HttpFullTextFetcher(ALLOW_LOOPBACK, batch_seconds=5)
        stuck, fine = fetcher.fetch_many([server.url("/stuck"), server.url("/article")])
    finally:
        release.set()
    assert stuck.text is None
    assert stuck.error == "not fetched: the batch's 5 s for article pages ran out"
    assert fine.error is None and fine.text is not None


def test_host_rest_ends_and_an_answer_forgets_the_failure() -> None:
    rest = HostRest(rest_seconds=60)
    assert rest.resting("a.example", 0) is None
    rest.failed("a.example", 0, "dns: cannot resolve host a.example")
    assert rest.resting("a.example", 59.9) == "dns: cannot resolve host a.example"
    assert rest.resting("b.example", 1) is None
    assert rest.resting("a.example", 60) is None
    rest.failed("a.example", 100, "timeout")
    rest.answered("a.example")
    assert rest.resting("a.example", 101) is None


def test_host_rest_forgets_hosts_whose_rest_is_over_instead_of_growing() -> None:
    rest = HostRest(rest_seconds=60)
    for n in range(5000):
        rest.failed(f"h{n}.example", float(n), "dns")
    assert len(rest) <= 1024 + 60
    assert rest.resting("h4999.example", 5000.0) == "dns"


def test_thin_entries_of_one_batch_each_get_their_page(
    database: Database, server: FeedServer
) -> None:
    config = _config(server.url("/"), "auto")
    feed_id = FeedStore(database).sync(config.feeds, NOW)[config.feeds[0].url].id
    entries = [
        FeedEntry("g1", server.url("/article"), "Azerbaijan frees French national", "", "", NOW),
        FeedEntry("g2", server.url("/gone"), "Aliyev pardons prisoners", "", "", NOW),
    ]
    ids = ArticleStore(database).add_entries(feed_id, entries, NOW)
    report = process_articles(database, Processor.from_config(config), ids, lambda: NOW)
    assert report.processed == 2
    with database.session() as session:
        found, gone = (session.get_one(ArticleRow, i) for i in ids)
    assert found.full_text is not None and "Théo Clerc" in found.full_text
    assert gone.full_text is None and gone.full_text_error == "http: HTTP 404 Not Found"
