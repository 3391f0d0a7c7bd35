"""What a worker process works with: database, compiled watchlists and the alert
sender, kept current.

Before each batch the worker compares the configuration files' signature
(a few stat calls); when they changed it loads and compiles the new
configuration and switches to it only if it is valid, so every worker picks
up watchlist edits without a restart and a bad edit never stops the work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import structlog

from service.config import Config, ConfigError, find_config_dir, load_config
from service.errors import NewswatchError
from service.notify.recipients import alert_sender
from service.notify.sender import AlertSender
from service.pipeline import Processor
from service.reload import file_signature
from service.storage.database import Database

log = structlog.get_logger("newswatch.worker")


@dataclass
class WorkerContext:
    config: Config
    database: Database
    processor: Processor
    sender: AlertSender
    signature: tuple[tuple[str, int, int], ...]

    @classmethod
    def load(cls, config: Config) -> WorkerContext:
        database = Database.open(config.settings.database_url)
        return cls(
            config=config, database=database, processor=Processor.from_config(config),
            sender=alert_sender(config, database), signature=file_signature(config.directory),
        )

    def refreshed(self) -> WorkerContext:
        """This context, or a new one when the configuration files changed validly."""
        signature = file_signature(self.config.directory)
        if signature == self.signature:
            return self
        self.signature = signature
        try:
            config = load_config(self.config.directory, os.environ)
            processor = Processor.from_config(config)
            database = self.database
            if config.settings.database_url != self.config.settings.database_url:
                database = Database.open(config.settings.database_url)
            sender = alert_sender(config, database)
        except (ConfigError, NewswatchError) as e:
            log.error("configuration change refused by worker; keeping the last good one",
                      error=str(e))
            return self
        if config.version == self.config.version:
            return self
        log.info("worker configuration reloaded", version=config.version[:12])
        return WorkerContext(config, database, processor, sender, signature)


_current: WorkerContext | None = None


def current(initial: Config | None = None) -> WorkerContext:
    """The process's context, loaded on first use and refreshed on every call."""
    global _current
    if _current is None:
        config = initial or load_config(find_config_dir(None, os.environ), os.environ)
        _current = WorkerContext.load(config)
    else:
        _current = _current.refreshed()
    return _current
