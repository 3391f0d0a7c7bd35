"""Shared fixtures: real PostgreSQL and Redis of this machine, fresh per test run.

A missing service fails the test (it never skips): CI starts both first.
"""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import structlog
from hypothesis import settings

from service.storage.database import Database
from tests.feedserver import FeedServer

# Property tests assert what holds, not how fast: hypothesis's per-example
# deadline (200 ms) would fail them on a loaded machine, a timed assert in effect.
settings.register_profile("newswatch", deadline=None)
settings.load_profile("newswatch")

ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    """The shared corpora: where NEWSWATCH_SHARED says, else beside the repository
    (../shared), else beside the repository this one was cloned from (a fresh
    clone in a temporary directory still finds them)."""
    if "NEWSWATCH_SHARED" in os.environ:
        return Path(os.environ["NEWSWATCH_SHARED"])
    beside = ROOT.parent / "shared"
    if beside.is_dir():
        return beside
    origin = subprocess.run(["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if origin and Path(origin).is_dir():
        return Path(origin).resolve().parent / "shared"
    return beside


SHARED = _shared_dir()
PG_ADMIN_URL = os.environ.get("NEWSWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NEWSWATCH_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_DBS = range(8, 16)  # newswatch tests take a free one of these database numbers
_REDIS_OWNER_KEY = "newswatch:test-owner"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"newswatch_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newswatch.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database.open(database_url)
    yield db
    db.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of our own (claimed atomically, so concurrent
    test runs never share a queue), emptied before and after."""
    for db in REDIS_DBS:
        client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
        if client.set(_REDIS_OWNER_KEY, str(os.getpid()), nx=True, ex=900):
            break
        client.close()
    else:
        raise RuntimeError(f"no free Redis database among {list(REDIS_DBS)}")
    for key in client.scan_iter():
        if key != _REDIS_OWNER_KEY.encode():
            client.delete(key)
    yield f"{REDIS_URL}/{db}"
    client.flushdb()  # also releases the claim
    client.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging() changes process-wide logging: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    """A local HTTP server (tests.feedserver) for feeds, pages and notify endpoints."""
    with FeedServer() as running:
        yield running
