"""Health of a role: can it reach what it needs (database, broker)?

One checker per process, reusing its database engine, so a probe every few
seconds costs a ``SELECT 1`` and a Redis ``PING``; used by /readyz of
`newswatch run` and of workers, and by `newswatch healthcheck`.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service import broker
from service.errors import StorageError
from service.storage.engine import check_connection


class HealthChecker:
    def __init__(self, engine: Engine, broker_url: str | None) -> None:
        self._engine = engine
        self._broker_url = broker_url

    def problems(self) -> list[str]:
        """What this process cannot reach, as sentences; empty when ready."""
        found = []
        try:
            check_connection(self._engine)
        except StorageError as e:
            found.append(str(e))
        if self._broker_url:
            try:
                broker.ping(self._broker_url)
            except RedisError as e:
                shown = make_url(self._broker_url).render_as_string(hide_password=True)
                found.append(f"broker unreachable: {shown}: {e}")
        return found
