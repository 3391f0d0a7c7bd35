"""Hot reload: watch the configuration directory and hand on each valid change.

A change is loaded and validated in full before anything is applied; an
invalid one is reported (file, line, key) and the last good configuration
stays in force. Kubernetes swaps ConfigMap files through symlinks, which a
directory watch sees like any edit.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import watchfiles

from service.config import Config, ConfigError, load_config
from service.config.loader import watchlist_files

DEBOUNCE_MS = 500  # editors write a file in several steps


def _yaml_only(change: watchfiles.Change, path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith((".yaml", ".yml")) or name.startswith("..")  # ConfigMap links


async def config_changes(
    directory: str | os.PathLike[str],
    environ: Mapping[str, str],
    current: Config,
    on_invalid: Callable[[ConfigError], None],
    stop: asyncio.Event | None = None,
) -> AsyncIterator[Config]:
    """Yield each new valid configuration of ``directory``, until ``stop`` is set."""
    watched = Path(directory)
    async for _changes in watchfiles.awatch(
        watched, watch_filter=_yaml_only, debounce=DEBOUNCE_MS, stop_event=stop
    ):
        try:
            loaded = load_config(watched, environ)
        except ConfigError as e:
            on_invalid(e)  # which logs it (once: not here too) and tells ops
            continue
        if loaded.version != current.version:
            current = loaded
            yield loaded


def file_signature(directory: str | os.PathLike[str]) -> tuple[tuple[str, int, int], ...]:
    """What changes when any configuration file changes: names, sizes, mtimes.

    Workers compare it before each batch (a few stat calls) instead of
    watching, so a worker process never runs a watcher thread of its own.
    """
    root = Path(directory)
    files = [root / "newswatch.yaml", root / "feeds.yaml"]
    files += [root / name for name in watchlist_files(root)]
    signature = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        signature.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(signature)
