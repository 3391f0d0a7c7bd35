"""Exact-copy keys of an article: the identities that make two entries one story.

A story key is claimed once (see storage); an article whose key is already
claimed joins that story. Keys: the canonical URL, a GUID that is globally
unique by its form (a URL, ``urn:``, ``tag:``), and a hash of the normalised
text when there is enough text for the hash to mean "same article".

Near copies (another outlet's edit of the same wire story) and other
articles about the same event are the extra paths of ``service.stories``:
``near_duplicate`` prepares what the story claim needs from the article's
title and text and the ``dedup:`` settings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from service.config.models import DedupSettings
from service.matching.field import folded_words
from service.stories import NearDuplicate, article_parts
from service.stories.embedding import embed
from service.stories.reposts import last_line_parts

MIN_WORDS_FOR_TEXT_KEY = 25
_GLOBAL_GUID = re.compile(r"^(?:https?://[^/\s]+/\S+|urn:\S+|tag:\S+)$", re.IGNORECASE)
_HTTP_SCHEME = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ArticleIdentity:
    canonical_url: str | None
    guid: str
    title: str
    text: str  # content, else summary


def story_keys(article: ArticleIdentity) -> list[str]:
    keys: list[str] = []
    if article.canonical_url:
        keys.append("url:" + _without_scheme(article.canonical_url))
    if _GLOBAL_GUID.match(article.guid):
        keys.append("guid:" + _without_scheme(article.guid))
    text_words = _joined_words(article.text)
    if _count(text_words) >= MIN_WORDS_FOR_TEXT_KEY:
        title_words = _joined_words(article.title)
        normalised = f"{title_words} {text_words}" if title_words else text_words
        keys.append("text:" + hashlib.sha256(normalised.encode()).hexdigest())
    return keys


def _without_scheme(link: str) -> str:
    """``link`` without ``http://`` or ``https://``: one outlet's feed links to the
    http page and another's to the https one of the same article (and a site's
    GUIDs change scheme when it moves to https), which are one story."""
    return _HTTP_SCHEME.sub("//", link, count=1)


def _joined_words(text: str) -> str:
    """``" ".join(words(text))``, folded as a whole (the classifier's C fold: the same
    words, several times faster than a call per word)."""
    return folded_words(text)[1:-1]


def _count(joined: str) -> int:
    """How many words ``joined`` (words joined by single spaces) holds."""
    return joined.count(" ") + 1 if joined else 0


def near_duplicate(
    settings: DedupSettings, title: str, text: str, now: datetime, language: str | None = None
) -> NearDuplicate | None:
    """The near-copy request for one article (None when the setting is off)."""
    if not settings.near_duplicates:
        return None
    parts, title_parts = article_parts(title, text)
    embedding = embed(title, text) if settings.same_event and settings.event_embeddings else None
    return NearDuplicate(
        parts=tuple(parts), threshold=settings.threshold, since=now - settings.window,
        title_parts=title_parts, tail_parts=last_line_parts(text),
        event_threshold=settings.event_threshold if settings.same_event else None,
        event_probability=settings.event_probability, embedding=embedding, seen=now,
        text=text, language=language,
    )
