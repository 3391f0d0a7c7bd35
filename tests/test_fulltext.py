"""Thin entries: the article page is fetched (guarded) and its main text classified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from service.config.models import Config, FeedConfig, FetchSettings, Settings, Watchlists
from service.domain import FeedEntry
from service.fulltext import (
    FullTextPolicy,
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
    page = HttpFullTextFetcher(ALLOW_LOOPBACK).fetch(server.url("/article"))
    assert page.error is None
    assert page.text is not None and "Théo Clerc" in page.text


def test_fetcher_refuses_private_addresses_by_default(server: FeedServer) -> None:
    page = HttpFullTextFetcher(FetchSettings()).fetch(server.url("/article"))
    assert page.text is None
    assert page.error is not None and page.error.startswith("refused-private")
    assert server.requests_to("/article") == []


def test_fetcher_keeps_the_size_limit(server: FeedServer) -> None:
    settings = FetchSettings(allow_private_addresses=True, max_bytes=100)
    page = HttpFullTextFetcher(settings).fetch(server.url("/article"))
    assert page.text is None
    assert page.error is not None and page.error.startswith("too-large")


def test_fetcher_reports_http_errors_and_non_html(server: FeedServer) -> None:
    server.reply("/data.json", b"{}", headers={"Content-Type": "application/json"})
    missing = HttpFullTextFetcher(ALLOW_LOOPBACK).fetch(server.url("/missing"))
    assert missing.error == "http: HTTP 404 Not Found"
    json_page = HttpFullTextFetcher(ALLOW_LOOPBACK).fetch(server.url("/data.json"))
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
