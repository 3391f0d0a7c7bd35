"""Two Celery worker processes on the real Redis, two copies of one story at once.

Two `celery worker` processes (solo pool: each is one process) consume the
newswatch queue of a Redis database of this test's own and work on the real
PostgreSQL. Each round the test publishes the two copies' tasks back to back
while both workers are idle (prefetch 1), so each worker takes one and they
claim the story at the same moment; the next round starts once both copies
are settled. Every round must give one story and one alert, and both workers
must have done part of the work.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from service.broker import QUEUE
from service.storage import ArticleStore, Database
from service.storage.models import AlertRow, ArticleRow
from tests.conftest import ROOT
from tests.test_stories_concurrency import ROUNDS, _config_dir, _store_entries
from tests.waiting import wait_until
from workers.tasks import PROCESS_ARTICLES

DEADLINE = 120.0  # seconds for any one condition; reached only when something is broken


def _settled(articles: ArticleStore, ids: list[int]) -> Callable[[], bool]:
    return lambda: not articles.unsettled(ids)


@pytest.fixture
def two_workers(
    tmp_path: Path, pg_url: str, redis_url: str
) -> Iterator[list[subprocess.Popen[str]]]:
    config_dir = _config_dir(tmp_path, pg_url)
    settings = {"database_url": pg_url, "broker_url": redis_url}
    (config_dir / "newswatch.yaml").write_text(json.dumps(settings), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(NEWSWATCH_CONFIG=str(config_dir), PYTHONUNBUFFERED="1")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "--loglevel=INFO",
             "--pool=solo", "-Q", QUEUE, "--without-gossip", "--without-mingle",
             "--hostname", f"story{n}-{tmp_path.name}@%h"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for n in range(2)
    ]
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)


def test_two_celery_workers_on_redis_handling_two_copies_at_once_make_one_story(
    two_workers: list[subprocess.Popen[str]], tmp_path: Path, pg_url: str, redis_url: str,
) -> None:
    database = Database.open(pg_url)
    pairs = _store_entries(database, tmp_path / "config")
    client = Celery("story-test", broker=redis_url)
    wait_until(lambda: len(client.control.ping(timeout=0.5)) == 2, "both workers to answer",
               DEADLINE)
    articles = ArticleStore(database)
    for a, b in pairs:
        client.send_task(PROCESS_ARTICLES, args=[[a]], queue=QUEUE)
        client.send_task(PROCESS_ARTICLES, args=[[b]], queue=QUEUE)
        wait_until(_settled(articles, [a, b]), f"articles {a} and {b}", DEADLINE)
    with database.session() as session:
        story_of = dict(session.execute(select(ArticleRow.id, ArticleRow.story_id)).all())
        alerts = session.scalar(select(func.count()).select_from(AlertRow))
    database.close()
    outputs = []
    for worker in two_workers:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
        outputs.append(output)
    assert all(story_of[a] == story_of[b] for a, b in pairs), outputs[0][-3000:]
    assert len({story_of[a] for a, _ in pairs}) == ROUNDS
    assert alerts == ROUNDS
    assert all(f"Task {PROCESS_ARTICLES}[" in output for output in outputs)  # both worked
