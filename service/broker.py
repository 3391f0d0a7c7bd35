"""What the health and metrics endpoints ask the broker (Redis) directly."""

from __future__ import annotations

import redis

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


def ping(broker_url: str) -> None:
    """Raise redis.RedisError when the broker does not answer."""
    client = _client(broker_url)
    try:
        client.ping()
    finally:
        client.close()
