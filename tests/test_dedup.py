"""Exact-copy story keys."""

from __future__ import annotations

from service.dedup import MIN_WORDS_FOR_TEXT_KEY, ArticleIdentity, story_keys

LONG = " ".join(f"word{i}" for i in range(MIN_WORDS_FOR_TEXT_KEY + 5))


def test_url_key_and_local_guid() -> None:
    keys = story_keys(ArticleIdentity("https://x.example/a", "12345", "t", "short"))
    assert keys == ["url:https://x.example/a"]


def test_global_guid_is_a_key() -> None:
    keys = story_keys(ArticleIdentity(None, "https://x.example/?p=12", "t", "short"))
    assert keys == ["guid:https://x.example/?p=12"]


def test_text_key_ignores_case_accents_and_punctuation() -> None:
    one = story_keys(ArticleIdentity(None, "1", "Théo freed", LONG + "."))
    two = story_keys(ArticleIdentity(None, "2", "THEO FREED", LONG.upper()))
    assert one == two and one[0].startswith("text:")


def test_short_text_has_no_text_key() -> None:
    assert story_keys(ArticleIdentity(None, "1", "Breaking", "Aliyev speaks")) == []
