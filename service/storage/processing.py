"""A batch of processed articles stored in one transaction.

Profiling showed storage dominating the per-article cost: two transactions
and some eighteen statements per article, each paying SQLAlchemy's ORM
overhead and a round trip. Here a batch pays once for what can be shared:

    lock the batch's articles, keep those still new           one SELECT
    learn each feed's boilerplate for the whole batch          one INSERT, one SELECT
        (service.storage.feed_segments; re-posts' first titles:  one SELECT, rarely)
    sketch each article (pure)
    read the index entries sharing the batch's bands          one SELECT (PostgreSQL: two)
        (service.storage.near_index; its snapshot first)
    the batch's shingles, band keys and matches                one statement each
        (service.storage.batch_rows.write_indexed)
    note the batch's articles in the claim log (PostgreSQL)      one INSERT
    advisory-lock every band and exact key, sorted (PostgreSQL) one SELECT
    catch up: the index rows committed since the read          three SELECTs
    read the owners of the batch's exact-copy keys            one SELECT
    per article, in order (a later one may join an earlier one's story),
        in memory: the story owning a key, else a near copy's
        (service.storage.near_index), else a new one
    the new stories, their keys, the joined counts            one statement each
        (service.storage.claims)
    the article rows and outbox rows                           one statement each
        (service.storage.batch_rows.write_claimed)
    commit

Any error rolls the whole batch back; ``ArticleStore.commit_batch`` then
stores its articles one by one, so an article the database refuses fails
alone (a savepoint per article cost two statements each, on every batch).
Exactly-once is unchanged: every row is keyed, so running the same batch
twice stores nothing twice; an article already out of state "new" is skipped.
Locks are taken in one sorted statement before any key is inserted, so two
workers claiming copies of one story serialise there instead of deadlocking
halfway through their batches; the second sees the first's story and joins it.

The locks are held to the commit, and with a batch's 6,400 band keys folded
into 512 locks any two batches wait for each other: what runs under them is
what runs one batch at a time across all workers (sampled during a
two-worker run, a third of the busy backends waited on them). So what does
not depend on the stories' decisions is written before the locks: the
sketches and band keys (half the time under the locks before, measured)
and the matches, rows keyed by the article alone that no other batch
writes (the articles are locked) and none sees before the commit. The
index is read before them (so the batch's own band rows are not among its
candidates) and before the locks too, and under them only what was committed
since (the claim log; see service.storage.near_index): of the 100 ms a
batch held the locks (5,000 articles, load 3), the read took 37, the
catch-up takes 7. One transaction still holds the whole batch: nothing is
half stored, whatever kills the worker.
Boilerplate learnt for the batch is what learning it article by article gives
(see service.storage.feed_segments).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, text, update
from sqlalchemy.orm import Session

from service.domain import Match
from service.storage.batch_rows import (
    Claimed,
    Indexed,
    article_values,
    write_claimed,
    write_indexed,
)
from service.storage.claims import StoryClaims
from service.storage.event_index import count_terms, find_event_story, frequencies, index_event
from service.storage.feed_segments import batch_boilerplate
from service.storage.listed import BigintArray, Bind, Int8Array, in_listed
from service.storage.models import ArticleRow
from service.storage.near_index import NearIndex, log_claims
from service.storage.stories import SketchedArticle
from service.stories import (
    EventVector,
    NearDuplicate,
    article_sketch,
    article_terms,
    event_vector,
)
from service.stories.events import DOCUMENTS, MIN_DOCUMENTS

_LOOKUPS_ONLY = "SET LOCAL enable_seqscan = off; SET LOCAL jit = off"  # see lookups_only
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS t(k)"
).bindparams(bindparam("keys", type_=Int8Array()))
LOCK_SPACE = 512  # advisory locks a batch takes at most (see _lock_claims)
_LOCK_BASE = 0x6E77_0000  # newswatch's story claims: 0x6E770000 + 0..511
_NO_STORY = -1  # an article looking for a story has none of its own yet


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    """What the worker learnt about an article's text besides its matches."""

    language: str | None = None
    full_text: str | None = None
    full_text_error: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessedArticle:
    """Everything the pure part decided about one article, ready to store."""

    article_id: int
    story_keys: Sequence[str]
    matches: Sequence[Match]
    subscription_ids: Sequence[str]
    now: datetime
    analysis: TextAnalysis | None = None
    near: NearDuplicate | None = None


@dataclass(frozen=True, slots=True)
class ProcessedOutcome:
    story_id: int
    duplicate: bool
    alerts_created: int


Outcome = ProcessedOutcome | None | Exception  # None: no longer new, skipped; Exception: failed


def commit_batch(
    session: Session, items: Sequence[ProcessedArticle]
) -> list[ProcessedOutcome | None]:
    """Store ``items`` in the session's open transaction; one outcome per item
    (None: no longer new, skipped). Any error propagates: the caller rolls the
    whole batch back (and may store its articles one by one)."""
    connection = session.connection()
    lookups_only(connection)
    new = _lock_new(connection, [item.article_id for item in items])
    todo = list({item.article_id: item for item in reversed(items)
                 if item.article_id in new}.values())[::-1]  # the same id twice: the first
    sketched = _sketch(connection, todo, new)
    hashed = {item.article_id: _hashed(item.story_keys) for item in todo}
    index = NearIndex(connection, (b for s in sketched.values() for b in s.sketch.bands))
    write_indexed(connection, [Indexed(item.article_id, item.now,
                                       sketched.get(item.article_id), item.matches)
                               for item in todo])
    log_claims(connection, list(hashed))
    _lock_claims(connection, sketched, hashed)
    index.catch_up(hashed)
    vectors = {a: s.vector for a, s in sketched.items() if s.vector is not None}
    claims = StoryClaims(connection, (key for keys in hashed.values() for key in keys))
    decided: list[tuple[ProcessedArticle, int, bool]] = []
    for item in todo:
        near = sketched.get(item.article_id)
        story, duplicate = _claim_story(connection, claims, index, item,
                                        hashed[item.article_id], near, vectors)
        if near is not None:
            index_event(connection, item.article_id, near)
        decided.append((item, story, duplicate))
        if duplicate:
            index.joined(story, item.now)
        if near is not None:
            index.add(item.article_id, story, near, item.now)
    claims.write()
    count_terms(connection, [(near.terms, item.now) for item, _, _ in decided
                             if (near := sketched.get(item.article_id)) is not None
                             and near.terms is not None])
    claimed = [_claimed(item, claims.resolve(story), duplicate)
               for item, story, duplicate in decided]
    created = write_claimed(connection, claimed)
    outcomes = {c.article_id: ProcessedOutcome(c.story_id, c.duplicate, created[c.article_id])
                for c in claimed}
    return [outcomes.pop(item.article_id, None) for item in items]


def lookups_only(connection: Connection) -> None:
    """On PostgreSQL, plan the rest of the transaction for key lookups: sequential
    scans off (only taken when nothing else can answer), JIT off.

    Every statement of a batch looks rows up by key, but the planner chose
    scans of whole tables for the lists of keys a batch asks about: without
    statistics (young tables; autovacuum off), and with them too, its costs
    favouring one sequential read over thousands of index probes (6,400 band
    keys at 20,000 indexed articles: 80 ms of server CPU scanning against 11
    through the index). Prepared statements made it worse: psycopg prepares a
    statement after five runs, and a generic plan compares each row with the
    key list one by one (the story-key owners: 23 ms a batch at 10,000
    articles, 43% of the server's CPU, against ~1 ms through the index). JIT:
    the planner, without statistics, costs these lookups high enough to compile
    them (compiling took 60 ms, running 11). ``SET LOCAL`` ends with the
    transaction.
    """
    if _is_postgres(connection):
        connection.exec_driver_sql(_LOOKUPS_ONLY)


def _claimed(item: ProcessedArticle, story_id: int, duplicate: bool) -> Claimed:
    analysis = item.analysis
    text = None if analysis is None else (
        analysis.language, analysis.full_text, analysis.full_text_error)
    return Claimed(
        item.article_id, story_id, duplicate, item.now,
        article_values(item.article_id, story_id, duplicate, item.now, text),
        item.subscription_ids)


def _hashed(keys: Sequence[str]) -> list[str]:
    return sorted({hashlib.sha256(key.encode()).hexdigest() for key in keys})


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _lock_new(connection: Connection, article_ids: Sequence[int]) -> dict[int, int]:
    """article id -> feed id of the batch's articles still new, locked on PostgreSQL."""
    unique = sorted(set(article_ids))
    if not unique:
        return {}
    lock, query, bind = _lock_statements(connection.dialect.name)
    ids = {"ids": bind(unique)}
    if lock is not None:
        # SQLite's FOR UPDATE: a write, so pysqlite opens the transaction here and the
        # savepoints below nest inside it (a SAVEPOINT outside one would commit alone)
        connection.execute(lock, ids)
    return {id_: feed for id_, feed, state in connection.execute(query, ids) if state == "new"}


@lru_cache(maxsize=2)
def _lock_statements(dialect: str) -> tuple[Any, Any, Bind]:
    """The ids bound as one list (an IN list was a new statement per length, parsed
    again by client and server each batch)."""
    articles: Table = ArticleRow.__table__  # type: ignore[assignment]
    condition, bind = in_listed(dialect, articles.c.id, "ids")
    query = select(articles.c.id, articles.c.feed_id, articles.c.state).where(
        condition).order_by(articles.c.id)
    if dialect == "postgresql":
        return None, query.with_for_update(), bind
    return update(articles).where(condition).values(state=articles.c.state), query, bind


def _sketch(
    connection: Connection, items: Sequence[ProcessedArticle], feeds: dict[int, int]
) -> dict[int, SketchedArticle]:
    """Learn the batch's boilerplate (service.storage.feed_segments) and sketch each article."""
    near_items = [(item.article_id, feeds[item.article_id], item.near)
                  for item in items if item.near is not None]
    boilerplate = batch_boilerplate(connection, near_items)
    return {article: _sketched(connection, near, boilerplate[article])
            for article, _, near in near_items if article in boilerplate}


def _sketched(
    connection: Connection, near: NearDuplicate, boilerplate: set[int]
) -> SketchedArticle:
    """The article's sketch and, when the same-event path is on, its terms and vectors."""
    parts = list(near.parts)
    sketch = article_sketch(parts, boilerplate, near.title_parts)
    rule = near.event_rule
    if rule is None:
        return SketchedArticle(sketch, near.threshold, near.since, text=near.text,
                               language=near.language)
    terms = article_terms(parts, boilerplate, near.title_parts)
    known = frequencies(connection, terms.distinct, near.since)
    seen = near.seen.timestamp() if near.seen is not None else None
    vector = (event_vector(terms, known, near.embedding, seen)
              if known[DOCUMENTS] >= MIN_DOCUMENTS else None)
    return SketchedArticle(sketch, near.threshold, near.since, terms, vector, rule,
                           near.text, near.language)


def _lock_claims(
    connection: Connection, sketched: dict[int, SketchedArticle], hashed: dict[int, list[str]]
) -> None:
    """Serialise claims that could meet: a lock for every band and exact key, folded
    into ``LOCK_SPACE`` locks, taken in one sorted statement.

    Two claims that could meet share a key, hence its lock. Folded, because
    PostgreSQL keeps every advisory lock until the commit in one shared table
    (``max_locks_per_transaction`` x connections, 6,400 by default): a batch
    of 100 articles has some 6,600 keys, and two workers holding that many
    ran out of it ("out of shared memory"). Unrelated keys sharing a lock
    only wait for each other.
    """
    if not _is_postgres(connection):
        return  # SQLite: the one writer already serialises
    keys = {band for s in sketched.values() for band in s.sketch.bands}
    keys.update(int(h[:16], 16) for hs in hashed.values() for h in hs)
    if keys:
        folded = sorted({_LOCK_BASE + key % LOCK_SPACE for key in keys})
        connection.execute(_LOCK_KEYS, {"keys": BigintArray(folded)})


def _claim_story(
    connection: Connection, claims: StoryClaims, index: NearIndex, item: ProcessedArticle,
    hashed: list[str], near: SketchedArticle | None, vectors: Mapping[int, EventVector],
) -> tuple[int, bool]:
    """Join the story owning one of the article's keys, else that of a near copy or
    (opt-in) of the same event, else start one (``vectors``: the batch's own
    same-event vectors, not in the database yet). (story, whether joined)."""
    target = claims.owner(hashed)
    if target is None and near is not None:  # no exact key: a near copy in the window?
        target = index.find(near, _NO_STORY)
        if target is None and near.vector is not None:  # nor a copy: the same event?
            claims.flush()  # the lookup reads the batch's new stories from the database
            target = find_event_story(connection, near, _NO_STORY, vectors,
                                      index.brief_differs(near))
    if target is None:
        return claims.start(item.article_id, hashed, item.now), False
    claims.join(target, hashed, item.now)
    return target, True
