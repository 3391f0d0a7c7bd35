"""The one Celery app of newswatch.

``celery -A workers worker`` imports this module; the app configures itself
the first time Celery reads its settings, from the configuration directory
named by ``NEWSWATCH_CONFIG`` (default ``./config``). ``newswatch run``
binds its own already-loaded configuration first with :func:`bind`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import structlog
from celery import Celery, signals

from service.config import Config, find_config_dir, load_config
from service.health import HealthChecker
from service.logs import configure_logging
from service.pipeline import warm_up
from service.storage.engine import make_engine
from workers.context import current
from workers.health import serve_health
from workers.observe import (
    exposition,
    pool_process_exited,
    prepare_multiprocess,
    remove_multiprocess,
)
from workers.settings import celery_settings

log = structlog.get_logger("newswatch.worker")
app = Celery("newswatch", include=["workers.tasks"])
_bound: Config | None = None


def bind(config: Config) -> Celery:
    """Configure the app from an already-loaded configuration (the run process)."""
    global _bound
    _bound = config
    app.conf.update(celery_settings(config.settings))
    return app


def bound_config() -> Config:
    """The configuration this process works with (loaded once, on first use)."""
    global _bound
    if _bound is None:
        _bound = load_config(find_config_dir(None, os.environ), os.environ)
    return _bound


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _logging(loglevel: int | str | None = None, **_: Any) -> None:
    """newswatch's logging instead of Celery's: ``log_level`` from the configuration,
    JSON lines when standard error is not a terminal (a container), Celery's own
    records in the same format at the ``--loglevel`` it was started with."""
    _newswatch_logging()
    if loglevel is not None:
        logging.getLogger("celery").setLevel(loglevel)


def _newswatch_logging() -> None:
    configure_logging(bound_config().settings.log_level, "auto")


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _before_the_pool_forks(**_: Any) -> None:
    """Metrics go where /metrics reads them; models are loaded once, shared by the pool."""
    _newswatch_logging()  # Celery sends this before setup_logging, and it logs
    directory = prepare_multiprocess()
    log.info("worker metrics shared by the pool processes", directory=str(directory))
    warm_up(bound_config())


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _pool_process_ready(**_: Any) -> None:
    """Open the database and compile the watchlists before the first task, so the
    first entry after a start waits for nothing (else its alert is seconds late)."""
    try:
        current(bound_config())
    except Exception as e:  # the first task tries again and reports it
        log.warning("worker context not loaded ahead of the first task", error=str(e))


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _pool_process_gone(pid: int | None = None, **_: Any) -> None:
    pool_process_exited(pid or os.getpid())


@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _worker_gone(**_: Any) -> None:
    remove_multiprocess()


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _serve_health(**_: Any) -> None:
    settings = bound_config().settings
    if settings.web.worker_port is None:
        return
    checker = HealthChecker(make_engine(settings.database_url), settings.broker_url)
    try:
        serve_health(settings.web.host, settings.web.worker_port, checker.problems, exposition)
    except OSError as e:  # Celery would swallow it: say clearly why probes will fail
        log.error("cannot serve worker /healthz, /readyz and /metrics; probes will fail",
                  host=settings.web.host, port=settings.web.worker_port, error=str(e))


@app.on_configure.connect  # type: ignore[untyped-decorator]
def _configure(sender: Celery, **_: Any) -> None:
    if _bound is None:
        sender.conf.update(celery_settings(bound_config().settings))
