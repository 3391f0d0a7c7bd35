"""Status page and API speed on a large installation.

    .venv/bin/python benchmarks/bench_webui.py [--feeds 10000] [--stories 2000] [--repeat 5]

A SQLite database (migrated as `newswatch run` does) is filled with feeds
(one in ten failing, one in fifty disabled), stories of 1-4 articles from
different feeds, and an alert per story; then the page is rendered and the
API listings built, each ``--repeat`` times, through the same code the
handlers run (``service.webui``), without HTTP. Prints the median time and
the page size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from service.storage.database import Database
from service.storage.models import AlertRow, ArticleRow, FeedRow, StoryRow
from service.webui.api import to_json
from service.webui.page import environment, render
from service.webui.status import Runtime, StatusSource

NOW = datetime.now(UTC)


def fill(database: Database, feeds: int, stories: int) -> None:
    with database.session() as session, session.begin():
        session.execute(insert(FeedRow), [
            {"id": i + 1, "url": f"https://feeds{i % 97}.example/{i}.xml", "name": f"Outlet {i}",
             "enabled": i % 50 != 0, "created_at": NOW, "last_polled_at": NOW,
             "last_success_at": NOW - timedelta(minutes=i % 60),
             "consecutive_failures": 3 if i % 10 == 0 else 0,
             "last_error_kind": "http" if i % 10 == 0 else None,
             "last_error": "503 Service Unavailable" if i % 10 == 0 else None,
             "next_poll_at": NOW + timedelta(minutes=i % 30), "items_seen": 10}
            for i in range(feeds)])
        articles, story_rows, alerts = [], [], []
        article_id = 0
        for s in range(1, stories + 1):
            first = article_id + 1
            copies = 1 + s % 4
            for c in range(copies):
                article_id += 1
                articles.append({
                    "id": article_id, "feed_id": 1 + (s * 7 + c * 13) % feeds,
                    "guid": f"g{article_id}", "url": f"https://news.example/{s}/{c}",
                    "title": f"Story {s} <b>as told</b> by outlet {c}", "summary": "",
                    "content": "", "fetched_at": NOW, "story_id": s, "state": "done",
                    "content_hash": f"h{article_id}"})
            story_rows.append({"id": s, "first_article_id": first, "created_at": NOW,
                               "updated_at": NOW - timedelta(minutes=s % 600),
                               "article_count": copies})
            alerts.append({"subscription_id": f"desk-{s % 5}", "story_id": s,
                           "article_id": first, "state": "sent", "delivered": [0],
                           "attempts": 1, "created_at": NOW, "next_attempt_at": NOW,
                           "sent_at": NOW})
        session.execute(insert(StoryRow), story_rows)
        session.execute(insert(ArticleRow), articles)
        session.execute(insert(AlertRow), alerts)


def median_seconds(action: object, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--stories", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = Database.open(f"sqlite:///{tmp}/bench.db")
        fill(database, args.feeds, args.stories)
        source = StatusSource(database, lambda: Runtime("bench", "0" * 64, None))
        env = environment()
        since = NOW - timedelta(days=1)
        page_s, html = median_seconds(lambda: render(env, source, "status", NOW), args.repeat)
        feeds_s, feeds = median_seconds(
            lambda: to_json({"feeds": source.feeds()}), args.repeat)
        stories_s, _ = median_seconds(
            lambda: to_json({"stories": source.stories(since, 50)}), args.repeat)
        alerts_s, _ = median_seconds(
            lambda: to_json({"alerts": source.alerts(since, 100)}), args.repeat)
        database.close()
    print(f"{args.feeds} feeds, {args.stories} stories, median of {args.repeat}")
    print(f"status page      {page_s * 1000:8.1f} ms  {len(str(html)) / 1024:8.0f} KiB")
    print(f"/api/feeds       {feeds_s * 1000:8.1f} ms  {len(str(feeds)) / 1024:8.0f} KiB")
    print(f"/api/stories     {stories_s * 1000:8.1f} ms")
    print(f"/api/alerts      {alerts_s * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
