"""The parse stage: real feeds from the shared corpora and small inline samples."""

from __future__ import annotations

import csv
import pickle
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.domain import ParsedFeed
from service.errors import FetchError
from service.poller import parse_feed, to_text
from tests.conftest import SHARED

CORPORA = SHARED / "corpora"
FEEDS = CORPORA / "feeds"
FEED_URL = "https://news.example.org/section/feed.xml"

# The manifest counts <item> elements; this feed nests 10 empty `<item />`
# inside its 10 real items, and entries with no title, link or text are skipped.
EXPECTED_COUNT_OVERRIDES = {"node-feedparser/illegally-nested.xml": 10}


def corpus_files() -> list[Path]:
    files = (p for p in FEEDS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")
    return sorted(
        p
        for p in files
        if "expected" not in p.relative_to(FEEDS).parts[:-1]
        and not p.name.endswith(".expected.json")
    )


def manifest_rows() -> list[dict[str, str]]:
    with (FEEDS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def well_formed_rows() -> list[dict[str, str]]:
    return [r for r in manifest_rows() if r["expat_wellformed"] == "ok"]


def test_the_corpus_is_where_the_tests_expect_it() -> None:
    assert len(corpus_files()) == len(manifest_rows()) > 60
    assert (FEEDS / "feedjira" / "json_feed.json") in corpus_files()


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(FEEDS)))
def test_every_corpus_feed_parses_or_fails_with_fetch_error(path: Path) -> None:
    try:
        parsed = parse_feed(path.read_bytes(), FEED_URL)
    except FetchError as error:
        assert error.kind == "parse"
        return
    assert isinstance(parsed, ParsedFeed)
    for entry in parsed.entries:
        assert entry.published is None or entry.published.tzinfo is not None
        assert entry.url is None or entry.url.startswith(("http://", "https://"))


@pytest.mark.parametrize("row", well_formed_rows(), ids=lambda r: r["file"])
def test_well_formed_feeds_yield_the_manifest_item_count(row: dict[str, str]) -> None:
    parsed = parse_feed((FEEDS / row["file"]).read_bytes(), FEED_URL)

    expected = EXPECTED_COUNT_OVERRIDES.get(row["file"], int(row["items"]))
    assert len(parsed.entries) == expected
    assert all(entry.title or entry.url for entry in parsed.entries)


def test_parsed_feeds_survive_pickling_for_a_process_pool() -> None:
    parsed = parse_feed((FEEDS / "rss-parser" / "guardian.rss").read_bytes(), FEED_URL)

    assert pickle.loads(pickle.dumps(parsed)) == parsed


# --- inline samples, one per format ------------------------------------------------

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Wire &amp; Co</title><link>https://wire.example.com/</link>
  <item>
    <title>Pardon for Th\xc3\xa9o Clerc</title>
    <link>https://wire.example.com/a/1</link>
    <guid isPermaLink="false">wire-1</guid>
    <description>&lt;p&gt;Baku &amp;amp; Paris &lt;b&gt;agree&lt;/b&gt;.&lt;/p&gt;
      &lt;p&gt;More.&lt;/p&gt;</description>
    <pubDate>Tue, 16 Jan 2024 10:30:00 +0400</pubDate>
    <author>desk@wire.example.com (Desk)</author>
  </item>
  <item><title>No link</title><guid>tag:wire,2024:2</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">Atom &lt;i&gt;Daily&lt;/i&gt;</title>
  <link href="https://atom.example.net/"/>
  <id>urn:uuid:feed</id><updated>2024-01-02T00:00:00Z</updated>
  <entry>
    <title>First</title><id>urn:uuid:1</id>
    <link rel="alternate" href="https://atom.example.net/first"/>
    <updated>2024-01-02T03:04:05+02:00</updated>
    <summary>Short.</summary>
    <content type="html">&lt;div&gt;Full &lt;a href="x"&gt;text&lt;/a&gt;&lt;/div&gt;</content>
    <author><name>Ann Writer</name></author>
  </entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rdf.example.org/"><title>RDF News</title>
    <link>https://rdf.example.org/</link><description>d</description></channel>
  <item rdf:about="https://rdf.example.org/1">
    <title>One</title><link>https://rdf.example.org/1</link>
    <description>Desc one</description><dc:date>2023-09-19T08:00:00+00:00</dc:date>
    <dc:creator>R. Porter</dc:creator>
  </item>
  <item rdf:about="https://rdf.example.org/2">
    <title>Two</title><link>https://rdf.example.org/2</link>
  </item>
</rdf:RDF>"""

JSON_FEED = b"""{
  "version": "https://jsonfeed.org/version/1.1",
  "title": "JSON Times", "home_page_url": "https://json.example.org/",
  "items": [
    {"id": 42, "url": "/posts/42", "title": "Answer",
     "content_html": "<p>Forty&nbsp;two</p><script>alert(1)</script><p>Done</p>",
     "summary": "Sum", "date_published": "2024-02-03T04:05:06+01:00",
     "authors": [{"name": "Deep Thought"}]},
    {"id": "x", "url": "javascript:alert(1)", "content_text": "Para one\\n\\nPara  two",
     "date_modified": "2024-02-04T00:00:00Z"},
    {"id": "empty"}
  ]
}"""


def test_rss2_sample() -> None:
    feed = parse_feed(RSS2, FEED_URL)

    assert (feed.title, feed.link) == ("Wire & Co", "https://wire.example.com/")
    first, second = feed.entries
    assert (first.guid, first.url, first.title) == (
        "wire-1",
        "https://wire.example.com/a/1",
        "Pardon for Théo Clerc",
    )
    assert first.summary == "Baku & Paris agree.\nMore."
    assert first.published == datetime(2024, 1, 16, 6, 30, tzinfo=UTC)
    assert first.author is not None and "Desk" in first.author
    assert (second.guid, second.url, second.title) == ("tag:wire,2024:2", None, "No link")


def test_atom_sample() -> None:
    feed = parse_feed(ATOM, FEED_URL)

    assert feed.title == "Atom Daily"
    (entry,) = feed.entries
    assert (entry.guid, entry.url) == ("urn:uuid:1", "https://atom.example.net/first")
    assert (entry.summary, entry.content) == ("Short.", "Full text")
    assert entry.published == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert entry.author == "Ann Writer"


def test_rdf_sample() -> None:
    feed = parse_feed(RDF, FEED_URL)

    assert feed.title == "RDF News"
    assert [(e.title, e.url) for e in feed.entries] == [
        ("One", "https://rdf.example.org/1"),
        ("Two", "https://rdf.example.org/2"),
    ]
    assert feed.entries[0].published == datetime(2023, 9, 19, 8, tzinfo=UTC)
    assert feed.entries[0].summary == "Desc one"
    assert feed.entries[1].published is None


def test_json_feed_sample() -> None:
    feed = parse_feed(JSON_FEED, "https://json.example.org/feed.json", "application/feed+json")

    assert (feed.title, feed.link) == ("JSON Times", "https://json.example.org/")
    first, second = feed.entries  # the third has nothing to show and is skipped
    assert (first.guid, first.url) == ("42", "https://json.example.org/posts/42")
    assert (first.content, first.summary, first.author) == (
        "Forty two\nDone",
        "Sum",
        "Deep Thought",
    )
    assert first.published == datetime(2024, 2, 3, 3, 5, 6, tzinfo=UTC)
    assert (second.guid, second.url, second.content) == ("x", None, "Para one\nPara two")
    assert second.published == datetime(2024, 2, 4, tzinfo=UTC)


# --- links ---------------------------------------------------------------------------


def rss_with_links(*links: str) -> bytes:
    items = "".join(
        f"<item><title>t{i}</title><link>{x}</link></item>" for i, x in enumerate(links)
    )
    return f'<rss version="2.0"><channel><title>c</title>{items}</channel></rss>'.encode()


def test_javascript_and_other_schemes_are_dropped() -> None:
    body = rss_with_links("javascript:alert(1)", "data:text/html,x", "ftp://f.example/x")

    assert [e.url for e in parse_feed(body, FEED_URL).entries] == [None, None, None]


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    body = rss_with_links("/top/story", "next.html", "//cdn.example.org/a")

    assert [e.url for e in parse_feed(body, FEED_URL).entries] == [
        "https://news.example.org/top/story",
        "https://news.example.org/section/next.html",
        "https://cdn.example.org/a",
    ]


# --- text ---------------------------------------------------------------------------


def test_html_is_reduced_to_plain_text_with_paragraph_breaks() -> None:
    html = (
        "<h1>Head</h1><p>One &amp; <em>two</em>\n   three</p><style>p{}</style>"
        "<ul><li>a</li><li>b</li></ul>x<br>y &lt;tag&gt; &#233;"
    )

    assert to_text(html, "text/html") == "Head\nOne & two three\na\nb\nx\ny <tag> é"


def test_twice_escaped_html_is_still_reduced_to_text() -> None:
    assert to_text("&lt;p&gt;Hi &lt;a href='x'&gt;there&lt;/a&gt;&lt;/p&gt;", "text/html") == (
        "Hi there"
    )


def test_plain_text_keeps_blank_line_paragraphs_and_literal_brackets() -> None:
    assert to_text("a  b\n\n\nc < d", "text/plain") == "a b\nc < d"


def test_corpus_entries_hold_no_markup() -> None:
    parsed = parse_feed((FEEDS / "rss-parser" / "reddit-atom.rss").read_bytes(), FEED_URL)

    for entry in parsed.entries:
        assert "<div" not in entry.summary and "&lt;" not in entry.summary


# --- hostile and non-feed bodies ----------------------------------------------------


def billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(levels) + "\n]>\n"
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>&lol9;</title><link>https://e.example/1</link></item></channel></rss>"
    ).encode()


def quadratic_blowup() -> bytes:
    # One declaration per line: the layout feedparser's own DOCTYPE filter keeps
    # (and expands: 100 KB x 10,000 references would be a 1 GB title).
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "x" * 100_000 + '">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>'
        + "&a;" * 10_000
        + "</title></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("body", [billion_laughs(), quadratic_blowup()], ids=["laughs", "quad"])
def test_entity_bombs_are_not_expanded(body: bytes) -> None:
    started = time.monotonic()
    try:
        parsed = parse_feed(body, FEED_URL)
    except FetchError as error:
        assert error.kind == "parse"
        return
    finally:
        assert time.monotonic() - started < 5
    assert sum(len(e.title) + len(e.summary) for e in parsed.entries) < 2 * len(body)
    assert "x" * 1000 not in "".join(e.title for e in parsed.entries)


def test_unterminated_internal_subset_is_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x"><rss version="2.0"></rss>'

    with pytest.raises(FetchError) as caught:
        parse_feed(body, FEED_URL)
    assert caught.value.kind == "parse"


def test_harmless_doctype_is_removed_and_the_feed_parsed() -> None:
    body = (
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        b'<rss version="0.91"><channel><title>Old</title>'
        b"<item><title>Item</title><link>http://old.example/1</link></item></channel></rss>"
    )

    assert [e.title for e in parse_feed(body, FEED_URL).entries] == ["Item"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe garbage \x01",
        b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>",
        b"/etc/passwd",
        b"file:///etc/passwd",
        b"{not json",
        b'{"version": "something else", "items": []}',
    ],
    ids=["empty", "garbage", "html", "path", "file-url", "bad-json", "not-json-feed"],
)
def test_bodies_without_a_feed_raise_a_parse_error(body: bytes) -> None:
    with pytest.raises(FetchError) as caught:
        parse_feed(body, FEED_URL)
    assert caught.value.kind == "parse"


def test_malformed_feed_is_recovered_and_flagged() -> None:
    body = b'<rss version="2.0"><channel><title>T</title><item><title>A & B</title></item>'

    parsed = parse_feed(body, FEED_URL)

    assert parsed.bozo and [e.title for e in parsed.entries] == ["A & B"]
