"""A batch of processed articles stored in one transaction, one savepoint each.

Profiling showed storage dominating the per-article cost: two transactions
and some eighteen statements per article, each paying SQLAlchemy's ORM
overhead and a round trip. Here a batch pays once for what can be shared:

    lock the batch's articles, keep those still new           one SELECT
    learn each feed's boilerplate for the whole batch          one INSERT, one SELECT
    sketch each article (pure)
    advisory-lock every band and exact key, sorted (PostgreSQL) one SELECT
    read the index entries sharing the batch's bands          one SELECT
    per article, in a savepoint (a bad one rolls back alone):
        story, its keys (one multi-row insert), owners if taken,
        a near copy (in memory: service.storage.near_index),
        band keys and shingles, the article row, matches, outbox rows
    the stories joined: article count and time                  one statement, sorted
    count the stored articles' terms (same-event path)          one statement, sorted
    commit

Exactly-once is unchanged: every row is keyed, so running the same batch
twice stores nothing twice; an article already out of state "new" is skipped.
Locks are taken in one sorted statement before any key is inserted, so two
workers claiming copies of one story serialise there instead of deadlocking
halfway through their batches; the second sees the first's story and joins it.
Rows that batches without a shared band or key may both update (a joined
story's count, the same-event term counts) are updated at the end, each
table in sorted order, so two batches joining the same stories in opposite
orders wait for one another instead of deadlocking.
Boilerplate learnt for the batch is what learning it article by article gives:
a segment row keeps the first article that had it, and the batch inserts each
segment with its first article in processing order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger

from service.domain import Match
from service.storage.event_index import (
    count_terms,
    event_blob,
    find_event_story,
    frequencies,
    index_event,
)
from service.storage.models import (
    AlertRow,
    ArticleRow,
    ArticleSketchRow,
    FeedSegmentRow,
    MatchRow,
    StoryBandRow,
    StoryKeyRow,
    StoryRow,
)
from service.storage.near_index import NearIndex
from service.storage.stories import SketchedArticle, encode_sketch
from service.stories import NearDuplicate, article_sketch, article_terms, event_vector
from service.stories.events import DOCUMENTS, MIN_DOCUMENTS

_CHUNK = 500
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS t(k)"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger())))
_SIGNED = 1 << 63


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


Outcome = ProcessedOutcome | None | Exception  # None: no longer new, skipped


def commit_batch(
    session: Session, items: Sequence[ProcessedArticle], *,
    transient: Callable[[BaseException], bool],
) -> list[Outcome]:
    """Store ``items`` in the session's open transaction; one outcome per item.

    A non-transient error of one article rolls back its savepoint only and is
    returned as its outcome; a ``transient`` one (the database went away)
    propagates, and the caller's transaction is rolled back whole.
    """
    connection = session.connection()
    new = _lock_new(connection, [item.article_id for item in items])
    todo = [item for item in items if item.article_id in new]
    sketched = _sketch(connection, todo, new)
    hashed = {item.article_id: _hashed(item.story_keys) for item in todo}
    _lock_claims(connection, sketched, hashed)
    index = NearIndex(connection, (b for s in sketched.values() for b in s.sketch.bands))
    outcomes: dict[int, Outcome] = {}
    for item in todo:
        if item.article_id in outcomes:  # the same id twice in one batch
            continue
        try:
            near = sketched.get(item.article_id)
            with session.begin_nested():  # the savepoint is taken with the connection
                outcome = _store_one(session.connection(), index, item,
                                     hashed[item.article_id], near)
        except Exception as e:
            if transient(e):
                raise
            outcomes[item.article_id] = e
            continue
        outcomes[item.article_id] = outcome
        if outcome.duplicate:
            index.joined(outcome.story_id, item.now)
        if near is not None:
            index.add(item.article_id, outcome.story_id, near, item.now)
    stored = [(item, o) for item in todo
              if isinstance(o := outcomes.get(item.article_id), ProcessedOutcome)]
    _join_stories(connection, [(o.story_id, item.now) for item, o in stored if o.duplicate])
    count_terms(connection, [(near.terms, item.now) for item, _ in stored
                             if (near := sketched.get(item.article_id)) is not None
                             and near.terms is not None])
    return [outcomes.pop(item.article_id, None) for item in items]


def _hashed(keys: Sequence[str]) -> list[str]:
    return sorted({hashlib.sha256(key.encode()).hexdigest() for key in keys})


def _insert_ignore(connection: Connection, table: Any) -> Any:
    return _insert_ignore_for(connection.dialect.name, table)


@lru_cache(maxsize=32)
def _insert_ignore_for(dialect: str, table: Any) -> Any:
    """Built once per table: building a statement costs more than running it on SQLite."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert-or-ignore ``rows`` as multi-row VALUES statements.

    With RETURNING, SQLAlchemy turns an executemany into batches of multi-row
    VALUES ("insertmanyvalues"); without it psycopg 3 sends one statement per
    row (an article's 42 band keys: 42 statements).
    """
    if rows:
        connection.execute(_insert_returning_key(connection.dialect.name, table), rows).all()


@lru_cache(maxsize=32)
def _insert_returning_key(dialect: str, table: Any) -> Any:
    return _insert_ignore_for(dialect, table).returning(next(iter(table.primary_key.columns)))


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """The per-article statements, built once with bind parameters."""
    stories: Table = StoryRow.__table__  # type: ignore[assignment]
    keys: Table = StoryKeyRow.__table__  # type: ignore[assignment]
    articles: Table = ArticleRow.__table__  # type: ignore[assignment]
    story: Any = bindparam("story")
    done = update(articles).where(articles.c.id == bindparam("article")).values(
        story_id=bindparam("p_story"), state=bindparam("p_state"),
        processed_at=bindparam("p_now"), last_error=None)
    return {
        "new_story": stories.insert().values(
            first_article_id=bindparam("article"), created_at=bindparam("now"),
            updated_at=bindparam("now"), article_count=1).returning(stories.c.id),
        "owners": select(keys.c.story_id).where(
            keys.c.key.in_(bindparam("keys", expanding=True))),
        "move_keys": update(keys).where(keys.c.story_id == story)
        .values(story_id=bindparam("target")),
        "drop_story": delete(stories).where(stories.c.id == story),
        "join_story": update(stories).where(stories.c.id == bindparam("target"))
        .values(article_count=stories.c.article_count + bindparam("joined"),
                updated_at=bindparam("now")),
        "article": done,
        "article_text": done.values(language=bindparam("p_language"),
                                    full_text=bindparam("p_full_text"),
                                    full_text_error=bindparam("p_full_text_error")),
    }


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _lock_new(connection: Connection, article_ids: Sequence[int]) -> dict[int, int]:
    """article id -> feed id of the batch's articles still new, locked on PostgreSQL."""
    found: dict[int, int] = {}
    unique = sorted(set(article_ids))
    articles: Table = ArticleRow.__table__  # type: ignore[assignment]
    if not _is_postgres(connection) and unique:
        # SQLite's FOR UPDATE: a write, so pysqlite opens the transaction here and the
        # savepoints below nest inside it (a SAVEPOINT outside one would commit alone)
        connection.execute(update(articles).where(articles.c.id.in_(unique))
                           .values(state=articles.c.state))
    for start in range(0, len(unique), _CHUNK):
        query = (
            select(ArticleRow.id, ArticleRow.feed_id, ArticleRow.state)
            .where(ArticleRow.id.in_(unique[start : start + _CHUNK]))
            .order_by(ArticleRow.id)
        )
        if _is_postgres(connection):
            query = query.with_for_update()
        found.update({id_: feed for id_, feed, state in connection.execute(query)
                      if state == "new"})
    return found


def _sketch(
    connection: Connection, items: Sequence[ProcessedArticle], feeds: dict[int, int]
) -> dict[int, SketchedArticle]:
    """Learn the batch's boilerplate (one insert, one read) and sketch each article."""
    near_items = [item for item in items if item.near is not None]
    first: dict[tuple[int, int], int] = {}  # (feed, fingerprint) -> first article to have it
    for item in near_items:
        assert item.near is not None
        for part in item.near.parts:
            first.setdefault((feeds[item.article_id], part.fingerprint), item.article_id)
    if not first:
        return {}
    rows = [{"feed_id": f, "fingerprint": p, "article_id": a}
            for (f, p), a in sorted(first.items())]  # sorted: concurrent inserts never deadlock
    table: Table = FeedSegmentRow.__table__  # type: ignore[assignment]
    for start in range(0, len(rows), _CHUNK):
        _insert_rows(connection, table, rows[start : start + _CHUNK])
    owner = _segment_owners(connection, first)
    sketched: dict[int, SketchedArticle] = {}
    for item in near_items:
        assert item.near is not None
        feed = feeds[item.article_id]
        boilerplate = {p.fingerprint for p in item.near.parts
                       if owner.get((feed, p.fingerprint), item.article_id) != item.article_id}
        sketched[item.article_id] = _sketched(connection, item.near, boilerplate)
    return sketched


def _sketched(
    connection: Connection, near: NearDuplicate, boilerplate: set[int]
) -> SketchedArticle:
    """The article's sketch and, when the same-event path is on, its terms and vectors."""
    parts = list(near.parts)
    sketch = article_sketch(parts, boilerplate, near.title_parts)
    rule = near.event_rule
    if rule is None:
        return SketchedArticle(sketch, near.threshold, near.since)
    terms = article_terms(parts, boilerplate, near.title_parts)
    known = frequencies(connection, terms.distinct, near.since)
    vector = (event_vector(terms, known, near.embedding)
              if known[DOCUMENTS] >= MIN_DOCUMENTS else None)
    return SketchedArticle(sketch, near.threshold, near.since, terms, vector, rule)


def _segment_owners(
    connection: Connection, wanted: dict[tuple[int, int], int]
) -> dict[tuple[int, int], int]:
    by_feed: dict[int, list[int]] = {}
    for feed, fingerprint in wanted:
        by_feed.setdefault(feed, []).append(fingerprint)
    owner: dict[tuple[int, int], int] = {}
    for feed, fingerprints in by_feed.items():
        for start in range(0, len(fingerprints), _CHUNK):
            query = select(FeedSegmentRow.fingerprint, FeedSegmentRow.article_id).where(
                FeedSegmentRow.feed_id == feed,
                FeedSegmentRow.fingerprint.in_(fingerprints[start : start + _CHUNK]),
            )
            owner.update({(feed, p): a for p, a in connection.execute(query)})
    return owner


def _lock_claims(
    connection: Connection, sketched: dict[int, SketchedArticle], hashed: dict[int, list[str]]
) -> None:
    """Serialise claims that could meet: every band and exact key, in one sorted statement."""
    if not _is_postgres(connection):
        return  # SQLite: the one writer already serialises
    keys = {band for s in sketched.values() for band in s.sketch.bands}
    keys.update(int(h[:16], 16) - _SIGNED for hs in hashed.values() for h in hs)
    if keys:
        connection.execute(_LOCK_KEYS, {"keys": sorted(keys)})


def _store_one(
    connection: Connection, index: NearIndex, item: ProcessedArticle, hashed: list[str],
    near: SketchedArticle | None,
) -> ProcessedOutcome:
    story_id, duplicate = _claim_story(connection, index, item, hashed, near)
    if near is not None and not near.sketch.empty:
        _index(connection, item.article_id, near, item.now)
    if near is not None:
        index_event(connection, item.article_id, near)
    values: dict[str, object] = {
        "article": item.article_id, "p_story": story_id, "p_now": item.now,
        "p_state": "duplicate" if duplicate else "processed",
    }
    statement = "article"
    if item.analysis is not None:
        statement = "article_text"
        values.update(p_language=item.analysis.language, p_full_text=item.analysis.full_text,
                      p_full_text_error=item.analysis.full_text_error)
    connection.execute(_statements()[statement], values)
    _insert_matches(connection, item.article_id, item.matches)
    created = _insert_alerts(connection, story_id, item)
    return ProcessedOutcome(story_id, duplicate, created)


def _claim_story(
    connection: Connection, index: NearIndex, item: ProcessedArticle, hashed: list[str],
    near: SketchedArticle | None,
) -> tuple[int, bool]:
    """Claim the article's keys for a new story, or join the story that owns one."""
    sql = _statements()
    keys: Table = StoryKeyRow.__table__  # type: ignore[assignment]
    story_id: int = connection.execute(
        sql["new_story"], {"article": item.article_id, "now": item.now}).scalar_one()
    others: list[int] = []
    if hashed:
        claimed = connection.execute(
            _insert_ignore(connection, keys).returning(keys.c.key),
            [{"key": key, "story_id": story_id} for key in hashed],
        ).all()
        if len(claimed) < len(hashed):  # some key belongs to a story already
            owners = set(connection.scalars(sql["owners"], {"keys": hashed}))
            others = sorted(owners - {story_id})
    if not others and near is not None:  # no exact key: a near copy in the window?
        found = index.find(near, story_id)
        if found is None:  # nor a copy: an article about the same event?
            found = find_event_story(connection, near, story_id)
        others = [found] if found is not None else []
    if not others:
        return story_id, False
    target = others[0]
    if hashed:
        connection.execute(sql["move_keys"], {"story": story_id, "target": target})
    connection.execute(sql["drop_story"], {"story": story_id})
    return target, True  # the story's count and time move at the end (_join_stories)


def _join_stories(connection: Connection, joins: Sequence[tuple[int, datetime]]) -> None:
    """Count the batch's articles that joined each story, in story order, and move
    its time to the latest of them."""
    joined: dict[int, tuple[int, datetime]] = {}
    for story, now in joins:
        count, latest = joined.get(story, (0, now))
        joined[story] = (count + 1, max(latest, now))
    if joined:
        connection.execute(_statements()["join_story"], [
            {"target": story, "joined": count, "now": latest}
            for story, (count, latest) in sorted(joined.items())])


def _index(connection: Connection, article_id: int, near: SketchedArticle, now: datetime) -> None:
    """The article's band keys and shingles in the shared index (idempotent)."""
    sketches: Table = ArticleSketchRow.__table__  # type: ignore[assignment]
    bands: Table = StoryBandRow.__table__  # type: ignore[assignment]
    connection.execute(_insert_ignore(connection, sketches), {
        "article_id": article_id, "shingles": encode_sketch(near.sketch), "created_at": now,
        "event": event_blob(near.vector)})
    _insert_rows(connection, bands, [{"band": b, "article_id": article_id}
                                     for b in sorted(set(near.sketch.bands))])


def _insert_matches(connection: Connection, article_id: int, matches: Sequence[Match]) -> None:
    if not matches:
        return
    table: Table = MatchRow.__table__  # type: ignore[assignment]
    _insert_rows(connection, table, [
        {"article_id": article_id, "kind": m.kind, "ref_id": m.id, "name": m.name,
         "evidence": [{"field": e.field, "sentence": e.sentence,
                       "spans": [list(s) for s in e.spans]} for e in m.evidence],
         "participants": list(m.participants)}
        for m in matches
    ])


def _insert_alerts(connection: Connection, story_id: int, item: ProcessedArticle) -> int:
    """Outbox rows, one per subscription and story; how many are new."""
    if not item.subscription_ids:
        return 0
    table: Table = AlertRow.__table__  # type: ignore[assignment]
    rows = [{"subscription_id": s, "story_id": story_id, "article_id": item.article_id,
             "state": "pending", "delivered": [], "attempts": 0, "created_at": item.now,
             "next_attempt_at": item.now}
            for s in sorted(set(item.subscription_ids))]
    created = connection.execute(
        _insert_ignore(connection, table).returning(table.c.id), rows
    ).all()
    return len(created)
