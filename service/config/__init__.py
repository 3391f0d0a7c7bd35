"""Configuration: YAML files in a directory, validated into one ``Config``.

``load_config(directory, environ)`` returns a ``Config`` or raises
``ConfigError`` listing every problem with its file, line and key;
``find_config_dir`` picks the directory (``--config``, ``$NEWSWATCH_CONFIG``,
``./config``).

The names below are imported on first use (PEP 562), not with the package:
``service.config.environment`` (the directory, ``${NAME}``, the
``NEWSWATCH_*`` overrides) is also read by the container's health check,
which must not pay for pydantic and the models.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.config.environment import find_config_dir
    from service.config.loader import load_config
    from service.config.models import Config
    from service.errors import ConfigError, ConfigProblem

_HOMES = {
    "find_config_dir": "service.config.environment",
    "load_config": "service.config.loader",
    "Config": "service.config.models",
    "ConfigError": "service.errors",
    "ConfigProblem": "service.errors",
}

__all__ = ["Config", "ConfigError", "ConfigProblem", "find_config_dir", "load_config"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value
