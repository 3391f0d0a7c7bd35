"""Two workers storing batches about the same event at once, on the real PostgreSQL.

The same-event path counts every article's terms in shared rows (one per term,
day and shard) and joins stories found by shared terms rather than shared
bands, so no advisory lock orders two such batches. Here two threads of one
process (so of one shard: they update the very same term-count rows) store
batches whose articles use one small vocabulary and, once the window holds
enough documents, join the same event stories in opposite orders, again and
again: a deadlock would surface as an error of one batch (both did, before a
batch moved its term counts and story counts to its end, in sorted order).
Every batch must commit, and the counts must add up.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

from sqlalchemy import func, select

from service.config.models import DedupSettings, FeedConfig
from service.dedup import near_duplicate
from service.domain import FeedEntry, Match
from service.pipeline import is_transient
from service.storage import ArticleStore, Database, FeedStore
from service.storage.models import ArticleRow, StoryRow, TermFrequencyRow
from service.storage.processing import Outcome, ProcessedArticle
from service.stories.events import DOCUMENTS, MIN_DOCUMENTS
from tests.story_texts import VOCABULARY, sentences

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = DedupSettings(same_event=True)
WORKERS = 2
BATCHES = 12
BATCH = 6
COMMON = VOCABULARY[2000:2060]  # every article draws most of its words from these
EVENTS = [VOCABULARY[3000 + 10 * k : 3006 + 10 * k] for k in range(BATCH)]  # their names
QUIET = -(-MIN_DOCUMENTS // (WORKERS * BATCH))  # batches before the event path starts


def _article(rng: random.Random, own: str, names: list[str]) -> tuple[str, str]:
    """Common words in an order of its own (so no shared shingles or bands), a few
    words of its own, and an event's names, three times each."""
    drawn = rng.sample(COMMON, 20) + [f"{own}y{i}" for i in range(4)] + names * 3
    rng.shuffle(drawn)
    return sentences(drawn[:6]), sentences(drawn)


def _events(worker: int, batch: int) -> list[list[str]]:
    """Before ``QUIET``: none. Then each worker starts stories of its half of the
    events; after that both write about every event, each in its own order."""
    if batch < QUIET:
        return [[] for _ in range(BATCH)]
    if batch == QUIET:
        half = BATCH // WORKERS
        return [EVENTS[worker * half + n % half] for n in range(BATCH)]
    return EVENTS if worker % 2 == 0 else EVENTS[::-1]


def _batch(database: Database, feed_id: int, worker: int, batch: int) -> list[ProcessedArticle]:
    rng = random.Random(worker * 1000 + batch)
    texts = [_article(rng, f"w{worker}x{batch}x{n}", names)
             for n, names in enumerate(_events(worker, batch))]
    entries = [FeedEntry(guid=f"{worker}-{batch}-{n}", url=None, title=title, summary="",
                         content=text, published=NOW) for n, (title, text) in enumerate(texts)]
    ids = ArticleStore(database).add_entries(feed_id, entries, NOW)
    no_matches: list[Match] = []
    return [ProcessedArticle(article_id, [], no_matches, ["desk"], NOW,
                             near=near_duplicate(SETTINGS, title, text, NOW))
            for article_id, (title, text) in zip(ids, texts, strict=True)]


def _worker(database: Database, feed_id: int, worker: int, start: threading.Barrier,
            outcomes: list[Outcome | BaseException]) -> None:
    store = ArticleStore(database)
    for batch in range(BATCHES):
        items = _batch(database, feed_id, worker, batch)
        start.wait(timeout=60)  # both batches go to the database together
        try:
            outcomes.extend(store.commit_batch(items, transient=is_transient))
        except BaseException as e:  # a deadlock is an OperationalError of the whole batch
            outcomes.append(e)


def test_two_workers_counting_the_same_terms_at_once_never_deadlock(pg_url: str) -> None:
    database = Database.open(pg_url)
    try:
        feeds = FeedStore(database).sync(
            [FeedConfig(url=f"https://w{n}.example/feed") for n in range(WORKERS)], NOW)
        start = threading.Barrier(WORKERS)
        outcomes: list[list[Outcome | BaseException]] = [[] for _ in range(WORKERS)]
        threads = [threading.Thread(target=_worker, args=(
            database, feeds[f"https://w{n}.example/feed"].id, n, start, outcomes[n]))
            for n in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        failures = [o for found in outcomes for o in found if not hasattr(o, "story_id")]
        assert failures == []
        articles = WORKERS * BATCHES * BATCH
        assert articles > MIN_DOCUMENTS  # the later batches also joined stories by event
        with database.session() as session:
            documents = session.scalar(select(func.sum(TermFrequencyRow.documents))
                                       .where(TermFrequencyRow.term == DOCUMENTS))
            processed = session.scalar(select(func.count()).select_from(ArticleRow)
                                       .where(ArticleRow.story_id.is_not(None)))
            counted = session.scalar(select(func.sum(StoryRow.article_count)))
        assert (documents, processed, counted) == (articles, articles, articles)
        joined = sum(1 for found in outcomes for o in found if getattr(o, "duplicate", False))
        assert joined >= (BATCHES - QUIET - 1) * WORKERS * BATCH  # every later one, by event
    finally:
        database.close()
