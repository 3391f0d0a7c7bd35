"""The fast parse path gives what feedparser gives, or steps aside.

``service.poller.fastparse`` (feedparser-rs behind an expat well-formedness
check) must return exactly ``service.poller.parse.parse_feed``'s result for
every body it accepts, and None for every body it is not sure of. The corpus
(/work/shared/corpora/feeds) is the evidence: no justified differences are
needed, because every element where the two parsers were seen to differ
(dc:date read as an author, media:credit, Atom feed authors, content types,
loose dates, ``&amp;`` left in links) sends the feed to feedparser.

``service.poller.htmltext`` (the regex reading of simple HTML) must give the
``HTMLParser`` extractor's paragraphs or None: generated fragments and every
HTML text field of the corpus.
"""

from __future__ import annotations

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import FetchError
from service.poller import fastparse
from service.poller import parse as reference
from service.poller.htmltext import simple_paragraphs
from tests.test_parse import FEED_URL, FEEDS, manifest_rows

ROWS = manifest_rows()
NOT_WELL_FORMED = [r["file"] for r in ROWS if r["expat_wellformed"] != "ok"]
# vanilla feeds the fast path must keep taking (a regression would only cost speed)
FAST_FILES = ["miniflux/large_rss.xml", "miniflux/large_atom.xml", "miniflux/small_atom.xml",
              "rsparser/DaringFireball.atom", "synthetic_edge_cases/miniflux_iso-8859-1.xml"]


def _reference(body: bytes) -> object:
    try:
        return reference.parse_feed(body, FEED_URL)
    except FetchError as error:
        return ("FetchError", error.kind, error.message)


def _rss(items: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (f"{prolog}<rss version=\"2.0\"><channel><title>T</title>"
            f"<link>https://news.example/</link>{items}</channel></rss>").encode()


def _item(i: int, title: str = "Story", body: str = "<p>Some <b>text</b></p>") -> str:
    return (f"<item><guid>g{i}</guid><title>{title} {i}</title>"
            f"<link>https://news.example/{i}</link>"
            f"<pubDate>Sat, 01 Mar 2025 10:00:00 GMT</pubDate>"
            f"<description><![CDATA[{body}]]></description></item>")


# --- the corpus -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [r["file"] for r in ROWS])
def test_fast_path_equals_feedparser_entry_by_entry_or_steps_aside(name: str) -> None:
    body = (FEEDS / name).read_bytes()
    fast = fastparse.fast_parse(body, FEED_URL)
    if fast is not None:
        expected = reference.parse_feed(body, FEED_URL)
        assert fast.entries == expected.entries  # entry by entry: the first difference shows
        assert fast == expected
    assert _reference(body) == _reference_of_wrapper(body)


def _reference_of_wrapper(body: bytes) -> object:
    try:
        return fastparse.parse_feed(body, FEED_URL)
    except FetchError as error:
        return ("FetchError", error.kind, error.message)


def test_the_fast_path_takes_a_good_share_of_the_corpus() -> None:
    fast = [r["file"] for r in ROWS
            if fastparse.fast_parse((FEEDS / r["file"]).read_bytes(), FEED_URL) is not None]
    assert set(FAST_FILES) <= set(fast)
    assert len(fast) >= 15


@pytest.mark.parametrize("name", NOT_WELL_FORMED)
def test_malformed_and_undecodable_corpus_files_fall_back(name: str) -> None:
    assert fastparse.fast_parse((FEEDS / name).read_bytes(), FEED_URL) is None


def test_json_feeds_fall_back() -> None:
    assert fastparse.fast_parse((FEEDS / "feedjira" / "json_feed.json").read_bytes(),
                                FEED_URL) is None


# --- bodies the fast path must refuse ---------------------------------------------------------


def test_a_clean_vanilla_feed_takes_the_fast_path_with_feedparsers_result() -> None:
    body = _rss("".join(_item(i) for i in range(20)))
    fast = fastparse.fast_parse(body, FEED_URL)
    assert fast is not None and len(fast.entries) == 20
    assert fast == reference.parse_feed(body, FEED_URL)
    assert fast.entries[0].summary == "Some text"


@pytest.mark.parametrize("body", [
    _rss(_item(1) + "<item><title>unclosed <b>tag</title></item>" + _item(2)),
    _rss(_item(1, title="Fish & Chips") + _item(2)),  # a raw &
    _rss(_item(1, title="caf\xe9").replace("caf\xe9", "CAFE")).replace(b"CAFE", b"caf\xe9"),
    _rss(_item(1, title="&nbsp;undefined entity")),
    _rss(_item(1), prolog='<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaa">]>'),
    _rss(_item(1), prolog='<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1/x.dtd">'),
    _rss(_item(1)).replace(b"<item>", b"<item><dc:date xmlns:dc='http://purl.org/dc/elements"
                           b"/1.1/'>2025-03-01T10:00:00Z</dc:date><media:credit xmlns:media="
                           b"'http://search.yahoo.com/mrss/'>x</media:credit>", 1),
    _rss(_item(1).replace("Sat, 01 Mar 2025 10:00:00 GMT", "2025/3/1 10:00")),
    _rss(_item(1).replace("https://news.example/1", "https://news.example/?a=1&amp;b=2")),
    _rss(_item(1, title="two\n\nparagraphs")),
    b"  " + _rss(_item(1)),  # declaration not at the start
    _rss(_item(1))[:-40],  # truncated
    b'<?xml version="1.0"?><html><body><item>1</item></body></html>',
    b"http://127.0.0.1:1/feed.xml",
], ids=["unclosed-tag", "raw-amp", "cp1252-declared-utf8", "undefined-entity",
        "internal-subset", "external-dtd", "dc-date-media-credit", "loose-date",
        "amp-in-link", "blank-line-title", "leading-space", "truncated", "not-a-feed",
        "a-url-not-a-body"])
def test_doubtful_bodies_fall_back_to_feedparser(body: bytes) -> None:
    assert fastparse.fast_parse(body, FEED_URL) is None
    assert _reference_of_wrapper(body) == _reference(body)


def test_an_entity_bomb_is_refused_without_expansion() -> None:
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 12))
    prolog = f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e0 "ha">{entities}]>'
    body = _rss(_item(1, title="&e11;"), prolog=prolog)
    assert fastparse.fast_parse(body, FEED_URL) is None
    parsed = fastparse.parse_feed(body, FEED_URL)  # feedparser, DOCTYPE cut away
    assert all(len(e.title) < 100 for e in parsed.entries)


def test_entry_count_must_match_the_xml() -> None:
    # an item nested where feeds put none: expat counts one entry less than feedparser-rs reads
    nested = _rss(_item(1)).replace(b"<channel>", b"<channel><x><item><title>odd</title>"
                                    b"</item></x>", 1)
    assert fastparse.fast_parse(nested, FEED_URL) is None


# --- HTML to text -------------------------------------------------------------------------------


def _html_parser_paragraphs(html: str) -> list[str]:
    extractor = reference._TextExtractor()
    extractor.feed(html)
    extractor.close()
    return extractor.paragraphs


def _agrees(html: str) -> bool:
    simple = simple_paragraphs(html, reference._BLOCKS, reference._HIDDEN)
    return simple is None or simple == _html_parser_paragraphs(html)


HTML_PIECES = st.sampled_from([
    "<p>", "</p>", "<b>", "</b>", "<br>", "<br/>", "<br />", "<BR>", "</P >", "<div class=x>",
    "<a href='https://x.example/?a=1&amp;b=2'>", "</a>", '<img src="a.png" alt="a > b"/>',
    "<li>", "<span\tid=s>", "<p\xa0x>", "<script>", "</script>", "<style>", "<!-- c -->",
    "<", ">", "&amp;", "&lt;p&gt;", "&copy", "&#38;", "&#x26;", "&bogus;", " ", "\n", "\n\n",
    "word", "Wörter", "a<b", "<3", "</>", "<a b='c'd>", "<a =x>", "<x:y>", "<p/>", "\x0b",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(HTML_PIECES, max_size=25).map("".join))
def test_simple_html_reading_agrees_with_html_parser(html: str) -> None:
    assert _agrees(html)


def test_simple_html_reading_is_used_for_plain_markup_and_refuses_the_rest() -> None:
    html = "<p>One <b>bold</b> &amp; <a href='https://x.example/'>link</a></p><p>Two</p>"
    assert simple_paragraphs(html, reference._BLOCKS, reference._HIDDEN) == [
        "One bold & link", "Two"]
    for hard in ("<p>a<!-- b --></p>", "<script>x</script>", "a < b", "<o:p>x</o:p>"):
        assert simple_paragraphs(hard, reference._BLOCKS, reference._HIDDEN) is None


def test_simple_html_reading_agrees_on_every_corpus_text_field() -> None:
    fields = 0
    for row in ROWS:
        result = feedparser.parse((FEEDS / row["file"]).read_bytes(), sanitize_html=False,
                                  resolve_relative_uris=False)
        for entry in result.entries:
            values = [entry.get("title"), entry.get("summary")]
            values += [c.get("value") for c in entry.get("content") or ()]
            for value in filter(None, values):
                fields += 1
                assert _agrees(value), (row["file"], value[:200])
    assert fields > 1_000
