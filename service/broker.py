"""What the health and metrics endpoints ask the broker (Redis) directly."""

from __future__ import annotations

import redis

from service.errors import BrokerError
from service.urls import shown_url

# the Celery queue workers consume (workers.settings names it from here: the health
# and metrics endpoints read its depth without importing Celery)
QUEUE = "newswatch"
TIMEOUT = 3.0


def _client(broker_url: str) -> redis.Redis:
    return redis.Redis.from_url(broker_url, socket_timeout=TIMEOUT,
                                socket_connect_timeout=TIMEOUT)


def queue_depth(broker_url: str) -> int:
    """Messages waiting in the newswatch queue (Celery's Redis list)."""
    client = _client(broker_url)
    try:
        return int(client.llen(QUEUE))
    finally:
        client.close()


SCHEMES = ("redis", "rediss", "redis+socket", "unix")


def broker_url_problem(url: str) -> str | None:
    """Why ``url`` is not a Redis broker newswatch can use (never quoting it), or None."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        return ("not a Redis URL: newswatch runs Celery on Redis "
                "(use e.g. redis://localhost:6379/0, or rediss:// for TLS)")
    return None


def ping(broker_url: str) -> None:
    """Raise redis.RedisError when the broker does not answer."""
    client = _client(broker_url)
    try:
        client.ping()
    finally:
        client.close()


def require(broker_url: str) -> None:
    """Raise BrokerError naming the broker (its password hidden) when it does not answer:
    ``run --once`` in distributed mode can do nothing without it."""
    try:
        ping(broker_url)
    except redis.RedisError as e:
        raise BrokerError(f"broker unreachable: {shown_url(broker_url)}: {e}") from e
