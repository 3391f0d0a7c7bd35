"""Logging set-up: structlog to standard error, console or JSON lines.

apprise's logger stays off whatever ``log_level`` says (it logs secrets).
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "console", "json"]
_QUIET_LIBRARIES = ("celery", "kombu", "urllib3", "asyncio", "alembic", "aiohttp")


def configure_logging(level: str = "info", log_format: LogFormat = "auto") -> None:
    """Every line to standard error in one format: newswatch's own events and the
    standard-library records of the libraries (watchfiles, asyncio, Celery, alembic)
    alike, so a JSON log holds nothing but JSON lines for the collector to parse."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        # no ExtraAdder: Celery puts every task's arguments and result in its records'
        # extras, which would bloat each line (the message already says what happened)
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    logging.captureWarnings(True)  # a library's warning is a record like any other
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # (apprise's logger is switched off in service.notify.channels: it logs secrets)
