"""Celery side of newswatch: the app, its settings and thin tasks.

Run a worker with ``celery -A workers worker``; the logic lives in ``service``.
"""

from workers.app import app, bind

__all__ = ["app", "bind"]
