"""What `newswatch run` loads depends on its role: a poller beside Celery workers
leaves the article models to them."""

from __future__ import annotations

import json
from pathlib import Path

from service.config import load_config
from service.language import _identifier
from service.runner import Service


def _config(tmp_path: Path, settings: dict[str, object]) -> Path:
    config = tmp_path / "config"
    (config / "watchlists").mkdir(parents=True)
    (config / "feeds.yaml").write_text("feeds:\n  - url: https://a.example/feed.xml\n")
    base = {"database_url": f"sqlite:///{tmp_path / 'nw.db'}", "web": {"enabled": False}}
    (config / "newswatch.yaml").write_text(json.dumps(base | settings))
    return config


def test_a_poller_beside_workers_loads_no_language_model(tmp_path: Path, redis_url: str) -> None:
    _identifier.cache_clear()
    service = Service(load_config(_config(tmp_path / "d", {"broker_url": redis_url}), {}),
                      once=False)
    service.close()
    assert _identifier.cache_info().currsize == 0
    embedded = Service(load_config(_config(tmp_path / "e", {}), {}), once=False)
    embedded.close()
    assert _identifier.cache_info().currsize == 1  # it processes the entries itself
