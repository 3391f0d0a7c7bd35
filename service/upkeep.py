"""Upkeep the long-running process does so that months of news do not fill the disk.

Every :data:`UPKEEP_EVERY` (and once shortly after start), the text of
articles older than ``retention.article_text`` is dropped
(:mod:`service.storage.retention`). Several run processes may do it at
once: blanking a blank text changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from service.config.models import RetentionSettings
from service.errors import StorageError
from service.storage.database import Database
from service.storage.retention import ArticleTextRetention

log = structlog.get_logger("newswatch.upkeep")

UPKEEP_EVERY = timedelta(hours=1)
FIRST_UPKEEP_AFTER = timedelta(minutes=1)  # start-up (and its first polls) goes first


def drop_old_text(
    retention: ArticleTextRetention, settings: RetentionSettings, now: datetime,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """One upkeep pass: how many articles lost their text (none when kept forever).
    ``stopping`` is asked between batches: a shutdown does not wait for a long pass."""
    if settings.article_text is None:
        return 0
    dropped = retention.compact(now - settings.article_text, stopping=stopping)
    if dropped:
        log.info("old article text dropped", articles=dropped,
                 older_than=str(settings.article_text))
    return dropped


async def upkeep_until(
    stop: asyncio.Event, database: Database, settings: Callable[[], RetentionSettings],
    now: Callable[[], datetime],
) -> None:
    """Run :func:`drop_old_text` every :data:`UPKEEP_EVERY` until ``stop`` is set;
    ``settings`` is read each time, so a reloaded ``retention:`` applies."""
    retention = ArticleTextRetention(database)
    wait = FIRST_UPKEEP_AFTER
    while not await _stopped_within(stop, wait):
        wait = UPKEEP_EVERY
        try:
            await asyncio.to_thread(drop_old_text, retention, settings(), now(), stop.is_set)
        except (StorageError, SQLAlchemyError) as e:
            log.error("upkeep: database error; trying again later", error=str(e))


async def _stopped_within(stop: asyncio.Event, wait: timedelta) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=wait.total_seconds())
    except TimeoutError:
        return False
    return True
