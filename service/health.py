"""Health of a role: can it reach what it needs (database, broker)?"""

from __future__ import annotations

from kombu.connection import Connection
from sqlalchemy.engine import make_url

from service.config.models import Config
from service.errors import StorageError
from service.storage.engine import check_connection, make_engine

BROKER_TIMEOUT = 5.0


def check_health(config: Config) -> list[str]:
    """Problems found, as sentences; empty when healthy."""
    problems = []
    engine = make_engine(config.settings.database_url)
    try:
        check_connection(engine)
    except StorageError as e:
        problems.append(str(e))
    finally:
        engine.dispose()
    if config.settings.broker_url:
        problems.extend(_broker_problems(config.settings.broker_url))
    return problems


def _broker_problems(url: str) -> list[str]:
    shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except Exception as e:  # kombu raises transport-specific errors
        return [f"broker unreachable: {shown}: {e}"]
    return []
