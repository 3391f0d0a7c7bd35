"""What each feed carried before: the boilerplate of a batch's articles.

An article's boilerplate is the segments its feed carried before
(``service.stories.boilerplate``), except for a re-post of an earlier entry
(``service.stories.reposts``), which needs to know which entry carried each
segment first and the title of the entry it may re-post. A batch learns it
at once, in the batch's transaction:

    insert the batch's segments, each with its first article      one INSERT
    read each segment's first article                              one SELECT per feed
    read the titles of the entries the batch may re-post           one SELECT, rarely

What the batch learns is what learning it article by article gives: a row
keeps the first article that had its segment, and the batch inserts each
with its first article in processing order (sorted by key, so concurrent
batches never deadlock).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, select

from service.storage.batch_rows import insert_rows
from service.storage.models import ArticleRow, FeedSegmentRow
from service.stories import NearDuplicate
from service.stories.boilerplate import segments
from service.stories.reposts import feed_boilerplate, origin

_CHUNK = 500
Key = tuple[int, int]  # (feed, fingerprint)
Item = tuple[int, int, NearDuplicate]  # (article, feed, near-copy request), in processing order


def batch_boilerplate(connection: Connection, items: Sequence[Item]) -> dict[int, set[int]]:
    """article id -> the fingerprints to remove from it before sketching."""
    first: dict[Key, int] = {}
    for article, feed, near in items:
        for part in near.parts:
            first.setdefault((feed, part.fingerprint), article)
    if not first:
        return {}  # nothing to sketch
    table: Table = FeedSegmentRow.__table__  # type: ignore[assignment]
    insert_rows(connection, table, [{"feed_id": f, "fingerprint": p, "article_id": a}
                                    for (f, p), a in sorted(first.items())])
    owner = _segment_owners(connection, first)
    carried = {article: {p.fingerprint: o for p in near.parts
                         if (o := owner.get((feed, p.fingerprint), article)) != article}
               for article, feed, near in items}
    origins = {source for article, _, near in items if (source := origin(
        near.parts, carried[article], near.title_parts, near.tail_parts)) is not None}
    titles = _titles(connection, origins)
    return {article: feed_boilerplate(near.parts, carried[article], near.title_parts,
                                      near.tail_parts, titles)
            for article, _, near in items}


def _segment_owners(connection: Connection, wanted: dict[Key, int]) -> dict[Key, int]:
    by_feed: dict[int, list[int]] = {}
    for feed, fingerprint in wanted:
        by_feed.setdefault(feed, []).append(fingerprint)
    owner: dict[Key, int] = {}
    for feed, fingerprints in by_feed.items():
        for start in range(0, len(fingerprints), _CHUNK):
            query = select(FeedSegmentRow.fingerprint, FeedSegmentRow.article_id).where(
                FeedSegmentRow.feed_id == feed,
                FeedSegmentRow.fingerprint.in_(fingerprints[start : start + _CHUNK]),
            )
            owner.update({(feed, p): a for p, a in connection.execute(query)})
    return owner


def _titles(connection: Connection, articles: set[int]) -> dict[int, list[str]]:
    """The title words of ``articles``, as the story index reads titles."""
    if not articles:
        return {}
    rows = connection.execute(
        select(ArticleRow.id, ArticleRow.title).where(ArticleRow.id.in_(sorted(articles))))
    return {id_: [w for s in segments(title or "") for w in s.words] for id_, title in rows}
