"""The shared same-event index, and pruning of the whole story index.

Inside a batch's transaction (``service.storage.processing``): an article's
document frequencies over the window (``frequencies``), the stories whose
first article shares its salient terms or an embedding band (``find_event_story``: only the
first, so a story joined by other articles about its event does not drift
away from it), and, once it is stored, its terms counted, its salient terms
posted and its vectors kept (``index_event``). Index rows from before the
window go after a batch, in a transaction of their own, at most every
``PRUNE_INTERVAL`` per process (``prune_if_due``): the pruning's deletes
scan tables, and inside the batch they ran under its claim locks, which
every other worker's batch waits for.
Term counts are spread over ``_SHARDS`` rows per term and day by host and
process, so two workers rarely wait on one row; the frequency is the sum.
Two workers may still meet on a shard (two processes whose hashes agree): a
batch therefore counts all its terms at its end (``count_terms``), in one
statement, rows in sorted order, so two batches never deadlock on them.
"""

from __future__ import annotations

import os
import socket
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Connection, bindparam, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ColumnElement

from service.storage import stories as story_settings
from service.storage.database import Database
from service.storage.listed import BigintArray
from service.storage.models import (
    ArticleSketchRow,
    ClaimLogRow,
    FeedSegmentRow,
    StoryKeyRow,
    StoryRow,
    StoryTermRow,
    TermFrequencyRow,
)
from service.storage.stories import MAX_CANDIDATES, SketchedArticle, decode_bands
from service.stories import EventCandidate, EventVector, Terms, best_event_story
from service.stories.events import DOCUMENTS, MIN_SHARED, decode, encode

log = structlog.get_logger("newswatch.stories")

_SHARDS = 16
_PRUNE_BANDS_SQLITE = "DELETE FROM story_bands WHERE band = ? AND article_id = ?"
# one primary-key probe per row, forced (LATERAL ... OFFSET 0), then a scan by row
# address: a join of the pairs with story_bands was planned as a scan of the whole
# table without statistics (the same for ``article_id IN (...)`` when it had an index)
_PRUNE_BANDS_POSTGRES = (
    "DELETE FROM story_bands WHERE ctid = ANY(ARRAY("
    "SELECT x.ctid FROM unnest(%s::bigint[], %s::bigint[]) AS o(band, article_id) "
    "CROSS JOIN LATERAL (SELECT y.ctid FROM story_bands y "
    "WHERE y.band = o.band AND y.article_id = o.article_id OFFSET 0) AS x))"
)
_EPOCH = date(1970, 1, 1)
_CHUNK = 500


# Statements built once, lists bound at execution ("expanding"): building an IN
# of hundreds of literals per article cost more than running the query.
def _any(column: QueryableAttribute[int], name: str) -> ColumnElement[bool]:
    return column.in_(bindparam(name, expanding=True))


# a shared band of the embeddings (``EventVector.bands``) weighs MIN_SHARED salient terms
_HITS = func.sum(case((_any(StoryTermRow.term, "bands"), MIN_SHARED), else_=1)).label("hits")
_EVENT_CANDIDATES = (
    select(StoryTermRow.article_id, StoryRow.id, _HITS)
    .join(StoryRow, StoryRow.first_article_id == StoryTermRow.article_id)
    .where(_any(StoryTermRow.term, "terms"))
    .where(StoryRow.updated_at >= bindparam("since"), StoryRow.id != bindparam("own"))
    .group_by(StoryTermRow.article_id, StoryRow.id)
    .having(_HITS >= MIN_SHARED)
    .order_by(_HITS.desc(), StoryTermRow.article_id)
    .limit(MAX_CANDIDATES)
)
_EVENT_VECTORS = select(ArticleSketchRow.article_id, ArticleSketchRow.event,
                        ArticleSketchRow.created_at).where(
    _any(ArticleSketchRow.article_id, "ids"), ArticleSketchRow.event.is_not(None))
_FREQUENCIES = (
    select(TermFrequencyRow.term, func.sum(TermFrequencyRow.documents))
    .where(_any(TermFrequencyRow.term, "terms"), TermFrequencyRow.day >= bindparam("day"))
    .group_by(TermFrequencyRow.term)
)


def day_number(when: datetime) -> int:
    return (when.date() - _EPOCH).days


def frequencies(connection: Connection, terms: Sequence[int], since: datetime) -> dict[int, int]:
    """Documents per term over the window (``DOCUMENTS``: all documents)."""
    found: dict[int, int] = {DOCUMENTS: 0}
    wanted = [DOCUMENTS, *terms]
    for start in range(0, len(wanted), _CHUNK):
        params = {"terms": wanted[start : start + _CHUNK], "day": day_number(since)}
        found.update({t: int(n) for t, n in connection.execute(_FREQUENCIES, params)})
    return found


def find_event_story(
    connection: Connection, near: SketchedArticle, own_story: int,
    batch: Mapping[int, EventVector] | None = None,
    differs: Callable[[int], bool] | None = None,
) -> int | None:
    """The story in the window about this article's event, if one reaches the threshold
    (``batch``: vectors of the batch's articles, whose sketch rows are written last;
    ``differs``: see ``best_event_story``)."""
    if near.vector is None or near.event_rule is None:
        return None
    bands = near.vector.bands
    params = {"terms": [*near.vector.salient, *bands], "bands": bands, "since": near.since,
              "own": own_story}
    stories = {a: s for a, s, _ in connection.execute(_EVENT_CANDIDATES, params)}
    if not stories:
        return None
    known = batch or {}
    found = [EventCandidate(a, stories[a], known[a]) for a in sorted(stories) if a in known]
    stored = sorted(a for a in stories if a not in known)
    if stored:
        rows = connection.execute(_EVENT_VECTORS, {"ids": stored})
        found += [EventCandidate(a, stories[a], decode(blob, seen.timestamp()))
                  for a, blob, seen in rows if blob]
    return best_event_story(near.vector, found, near.event_rule, differs)


def index_event(connection: Connection, article_id: int, near: SketchedArticle) -> None:
    """Post the article's salient terms and embedding bands (its sketch row holds the
    vectors)."""
    keys = [] if near.vector is None else [*near.vector.salient, *near.vector.bands]
    if keys:
        module = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = module.insert(StoryTermRow.__table__).on_conflict_do_nothing()
        connection.execute(statement, [{"term": t, "article_id": article_id} for t in keys])


def event_blob(vector: EventVector | None) -> bytes | None:
    return encode(vector) if vector is not None else None


def _shard() -> int:
    """This process's share of the term counts (host and process id, hashed)."""
    return zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % _SHARDS


def count_terms(connection: Connection, counted: Iterable[tuple[Terms, datetime]]) -> None:
    """One more document for each term of each stored article (``DOCUMENTS`` too).

    All of a batch in one statement, one row per term and day, sorted: two
    workers meeting on one shard lock the rows they share in the same order
    (counting per article, each article in its own order, deadlocked).
    """
    documents: Counter[tuple[int, int]] = Counter()
    for terms, now in counted:
        day = day_number(now)
        documents.update((term, day) for term in (DOCUMENTS, *terms.distinct))
    if not documents:
        return
    shard = _shard()
    marker = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
    statement = (
        "INSERT INTO term_frequencies (term, day, shard, documents) "
        f"VALUES ({marker}, {marker}, {marker}, {marker}) ON CONFLICT (term, day, shard) "
        "DO UPDATE SET documents = term_frequencies.documents + excluded.documents"
    )
    connection.exec_driver_sql(
        statement, [(term, day, shard, n) for (term, day), n in sorted(documents.items())])


_pruned_at: dict[str, float] = {}  # database URL -> when this process last pruned (monotonic)


def prune_if_due(database: Database, before: datetime | None) -> int | None:
    """Prune the index of rows from before ``before`` (the window's start; None: no
    article of the batch had near copies on) unless this process did less than
    ``PRUNE_INTERVAL`` ago; how many articles left it (None: not pruned). A failure
    is logged, not raised: the batch is stored, and the next one tries again."""
    key = str(database.engine.url)
    moment = time.monotonic()
    last = _pruned_at.get(key)
    if before is None or (
            last is not None and moment - last < story_settings.PRUNE_INTERVAL.total_seconds()):
        return None
    _pruned_at[key] = moment
    try:
        with database.engine.begin() as connection:
            return prune_index(connection, before)
    except SQLAlchemyError as e:
        log.warning("story index pruning failed; tried again later", error=str(e))
        return None


def prune_index(connection: Connection, before: datetime) -> int:
    """Delete index rows of articles indexed before ``before``, stale keys and counts.

    Returns how many articles left the index. Their stories stay; a story
    not updated since ``before`` also loses its exact-copy keys (past the
    window nothing joins it any more).
    """
    old_bands, *rows, sketches, claim_log, keys, counts = _prune_statements()
    values = {"before": before}
    with _planner_defaults(connection):
        _prune_bands(connection, connection.execute(old_bands, values))
        for statement in rows:
            connection.execute(statement, values)
        pruned = connection.execute(sketches, values)
        connection.execute(claim_log, values)
        connection.execute(keys, values)
        connection.execute(counts, {"day": day_number(before)})
    return int(pruned.rowcount or 0)


@contextmanager
def _planner_defaults(connection: Connection) -> Iterator[None]:
    """Sequential scans as the server plans them, for the pruning's range deletes (a
    batch's transaction turns them off: service.storage.processing.lookups_only;
    some of these statements have no index to take instead); restored after."""
    if connection.dialect.name != "postgresql":
        yield
        return
    run = connection.exec_driver_sql
    saved = run("SHOW enable_seqscan").scalar_one()
    run("SET LOCAL enable_seqscan TO DEFAULT")
    yield
    run("SELECT set_config('enable_seqscan', %s, true)", (saved,))


def _prune_bands(connection: Connection, old: Iterable[tuple[int, bytes]]) -> None:
    """Delete the band rows of these (article, its keys): found by their primary key
    (story_bands has no index by article; migration 0019p)."""
    per_article = [(article, decode_bands(blob)) for article, blob in old]
    if not per_article:
        return
    bands = np.concatenate([keys for _, keys in per_article])
    articles = np.repeat([article for article, _ in per_article],
                         [len(keys) for _, keys in per_article])
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_PRUNE_BANDS_POSTGRES, (BigintArray(bands),
                                                           BigintArray(articles)))
    else:
        connection.exec_driver_sql(_PRUNE_BANDS_SQLITE, list(zip(
            bands.tolist(), articles.tolist(), strict=True)))


@lru_cache(maxsize=1)
def _prune_statements() -> tuple[Any, ...]:
    """Built once (building them cost more than running them on an index with nothing
    to prune); bound to ``before`` (and ``day`` for the counts)."""
    before: Any = bindparam("before")
    old = select(ArticleSketchRow.article_id).where(ArticleSketchRow.created_at < before)
    stale = select(StoryRow.id).where(StoryRow.updated_at < before)
    return (
        select(ArticleSketchRow.article_id, ArticleSketchRow.bands)
        .where(ArticleSketchRow.created_at < before, ArticleSketchRow.bands.is_not(None)),
        *(delete(table).where(table.article_id.in_(old))
          for table in (StoryTermRow, FeedSegmentRow)),
        delete(ArticleSketchRow).where(ArticleSketchRow.created_at < before),
        delete(ClaimLogRow).where(ClaimLogRow.created_at < before),
        delete(StoryKeyRow).where(StoryKeyRow.story_id.in_(stale)),
        delete(TermFrequencyRow).where(TermFrequencyRow.day < bindparam("day")),
    )
