"""Celery settings derived from newswatch.yaml (DESIGN.md "Delivery guarantees").

The visibility timeout is set in every place Celery reads it, and the task
time limits stay below it so that a slow task is never delivered twice
while it still runs.
"""

from __future__ import annotations

from typing import Any

from service.broker import QUEUE
from service.config.models import Settings

VISIBILITY_TIMEOUT = 3600  # seconds a reserved message stays invisible in Redis
TASK_TIME_LIMIT = 600  # hard limit per task: well below the visibility timeout
TASK_SOFT_TIME_LIMIT = 540


def celery_settings(settings: Settings) -> dict[str, Any]:
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT}
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # a pool process opens the database and compiles the watchlists before its
        # first task (workers.app): give it longer than Celery's 4 s to report alive
        "worker_proc_alive_timeout": 60,
        "task_time_limit": TASK_TIME_LIMIT,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 5, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3,
        },
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": QUEUE,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "enable_utc": True,
    }
