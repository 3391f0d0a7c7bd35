"""Exact-copy story keys."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from service.dedup import MIN_WORDS_FOR_TEXT_KEY, ArticleIdentity, story_keys
from tests.conftest import SHARED
from tests.test_folded import ALPHABET

LONG = " ".join(f"word{i}" for i in range(MIN_WORDS_FOR_TEXT_KEY + 5))


def test_url_key_and_local_guid() -> None:
    keys = story_keys(ArticleIdentity("https://x.example/a", "12345", "t", "short"))
    assert keys == ["url://x.example/a"]


def test_global_guid_is_a_key() -> None:
    keys = story_keys(ArticleIdentity(None, "https://x.example/?p=12", "t", "short"))
    assert keys == ["guid://x.example/?p=12"]


def test_http_and_https_links_of_one_article_share_their_keys() -> None:
    plain = story_keys(ArticleIdentity("http://x.example/a", "http://x.example/?p=1", "t", "s"))
    secure = story_keys(ArticleIdentity("https://x.example/a", "HTTPS://x.example/?p=1", "t", "s"))
    assert plain == secure == ["url://x.example/a", "guid://x.example/?p=1"]
    other = story_keys(ArticleIdentity("https://y.example/a", "urn:x:1", "t", "s"))
    assert set(other).isdisjoint(plain)


def test_text_key_ignores_case_accents_and_punctuation() -> None:
    one = story_keys(ArticleIdentity(None, "1", "Théo freed", LONG + "."))
    two = story_keys(ArticleIdentity(None, "2", "THEO FREED", LONG.upper()))
    assert one == two and one[0].startswith("text:")


def test_short_text_has_no_text_key() -> None:
    assert story_keys(ArticleIdentity(None, "1", "Breaking", "Aliyev speaks")) == []


def _reference_keys(article: ArticleIdentity) -> list[str]:
    """story_keys as it was written word by word (service.text.normalize.words)."""
    import hashlib

    from service.text.normalize import words

    keys = story_keys(ArticleIdentity(article.canonical_url, article.guid, "", ""))
    text_words = words(article.text)
    if len(text_words) >= MIN_WORDS_FOR_TEXT_KEY:
        normalised = " ".join(words(article.title) + text_words)
        keys.append("text:" + hashlib.sha256(normalised.encode()).hexdigest())
    return keys


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, max_size=20), st.text(alphabet=ALPHABET, max_size=400))
def test_text_keys_are_those_of_the_word_by_word_normalisation(title: str, text: str) -> None:
    article = ArticleIdentity("https://x.example/a", "g", title, text)
    assert story_keys(article) == _reference_keys(article)


def test_text_keys_of_real_news_are_those_of_the_word_by_word_normalisation() -> None:
    corpus = SHARED / "corpora/topic_azerbaijan_france"
    entries = [e for path in sorted(corpus.rglob("*.json"))
               for e in json.loads(path.read_text(encoding="utf-8"))]
    with_text_keys = 0
    for entry in entries:
        title = str(entry.get("title") or "")
        text = " ".join(str(entry.get(k) or "") for k in ("description", "summary", "text"))
        article = ArticleIdentity(None, "g", title, text)
        keys = story_keys(article)
        assert keys == _reference_keys(article)
        with_text_keys += bool(keys)
    assert with_text_keys > 500
