"""The shared story index on both backends: near copies join, footers do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from service.config.models import DedupSettings, FeedConfig, SubscriptionConfig
from service.dedup import near_duplicate
from service.domain import Classification, FeedEntry
from service.rendering import render_alert
from service.storage import AlertStore, ArticleStore, Database, FeedStore
from service.storage.articles import ProcessedOutcome
from service.storage.models import StoryBandRow
from service.storage.stories import StoryIndexStore
from tests.story_texts import (
    FOOTER,
    OTHER,
    SHORT,
    STORY,
    VOCABULARY,
    WIRE_FOOTER,
    sentences,
)

NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def _feed(database: Database, name: str) -> int:
    url = f"https://{name}.example/feed"
    return FeedStore(database).sync([FeedConfig(url=url, name=name)], NOW)[url].id


def _add(database: Database, feed_id: int, guid: str, title: str, text: str) -> int:
    entry = FeedEntry(guid=guid, url=None, title=title, summary="", content=text, published=NOW)
    (article_id,) = ArticleStore(database).add_entries(feed_id, [entry], NOW)
    return article_id


def _process(
    database: Database, article_id: int, title: str, text: str, *,
    now: datetime = NOW, settings: DedupSettings | None = None,
) -> ProcessedOutcome:
    articles = ArticleStore(database)
    assert articles.begin_attempt(article_id) is not None
    outcome = articles.commit_processed(
        article_id, story_keys=[], classification=Classification(()),
        subscription_ids=["desk"], now=now,
        near=near_duplicate(settings or DedupSettings(), title, text, now),
    )
    assert outcome is not None
    return outcome


def _story(database: Database, feed: str, guid: str, title: str, text: str,
           **kwargs: object) -> ProcessedOutcome:
    feed_id = _feed(database, feed)
    article_id = _add(database, feed_id, guid, title, text)
    return _process(database, article_id, title, text, **kwargs)  # type: ignore[arg-type]


def test_syndicated_copy_joins_the_story_and_alerts_once(database: Database) -> None:
    first = _story(database, "outlet", "a1", STORY.title, STORY.text(FOOTER))
    copy_title = sentences(VOCABULARY[600:610])
    copy = _story(database, "wire", "w1", copy_title,
                  STORY.copy(copy_title, "BAKU, Sept 19 (Wire)", WIRE_FOOTER))
    assert (copy.story_id, copy.duplicate) == (first.story_id, True)
    assert (first.alerts_created, copy.alerts_created) == (1, 0)
    (view,) = AlertStore(database).due(NOW)
    assert view.other_outlets == ("wire",)
    subscription = SubscriptionConfig(id="desk", notify=("json://x",))
    assert "Also reported by 1 outlet(s): wire" in render_alert(view, subscription, {}).body


def test_different_short_stories_sharing_a_long_footer_stay_apart(database: Database) -> None:
    one = _story(database, "outlet", "a1", OTHER.title, OTHER.text(FOOTER))
    two = _story(database, "outlet", "a2", SHORT.title, SHORT.text(FOOTER))
    assert one.story_id != two.story_id and not two.duplicate
    assert two.alerts_created == 1


def test_only_stories_updated_within_the_window_are_joined(database: Database) -> None:
    settings = DedupSettings(window=timedelta(days=2))
    first = _story(database, "outlet", "a1", STORY.title, STORY.text(), settings=settings)
    late = _story(database, "wire", "w1", STORY.title, STORY.text(WIRE_FOOTER),
                  now=NOW + timedelta(days=3), settings=settings)
    assert late.story_id != first.story_id


def test_near_duplicates_can_be_turned_off(database: Database) -> None:
    settings = DedupSettings(near_duplicates=False)
    first = _story(database, "outlet", "a1", STORY.title, STORY.text(), settings=settings)
    copy = _story(database, "wire", "w1", STORY.title, STORY.text(WIRE_FOOTER),
                  settings=settings)
    assert copy.story_id != first.story_id
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(StoryBandRow)) == 0


def test_recent_stories_list_their_outlets_in_order(database: Database) -> None:
    first = _story(database, "outlet", "a1", STORY.title, STORY.text(FOOTER))
    _story(database, "wire", "w1", "Another headline", STORY.copy("", "PARIS", WIRE_FOOTER),
           now=NOW + timedelta(hours=1))
    _story(database, "outlet", "a2", SHORT.title, SHORT.text(FOOTER))
    stories = StoryIndexStore(database).recent(NOW - timedelta(days=1))
    top = stories[0]
    assert (top.id, top.article_count, top.outlets) == (first.story_id, 2, ("outlet", "wire"))
    assert top.title == STORY.title
    assert top.updated_at == NOW + timedelta(hours=1)
    assert len(stories) == 2
