"""What the environment decides about the configuration, read without the models.

Where the configuration directory is, ``${NAME}`` substitution and the
``NEWSWATCH_*`` variables that override settings are read by the loader and
also by ``python -m service.probe``, the container's health check, which runs
every 30 s and must not import pydantic and the models (over a second of
CPU). They live here, on the standard library alone, so both read the same
rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR_VARIABLE = "NEWSWATCH_CONFIG"

# Containers set these instead of editing newswatch.yaml (12-factor style);
# they win over the file. Empty values are ignored.
ENVIRONMENT_OVERRIDES = {
    "NEWSWATCH_DATABASE_URL": "database_url",
    "NEWSWATCH_BROKER_URL": "broker_url",
    "NEWSWATCH_WEB_HOST": "web.host",
    "NEWSWATCH_WEB_PORT": "web.port",
    "NEWSWATCH_WORKER_HEALTH_PORT": "web.worker_port",
    "NEWSWATCH_WEB_TOKEN": "web.token",
}

_VARIABLE = re.compile(r"\$(\$)?\{(?:([A-Za-z_][A-Za-z0-9_]*)\})?")


def find_config_dir(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The configuration directory: ``--config``, else ``$NEWSWATCH_CONFIG``, else ``./config``."""
    return Path(cli_value or environ.get(CONFIG_DIR_VARIABLE) or "config")


def override(dotted_key: str, environ: Mapping[str, str]) -> str | None:
    """The value the environment sets for a setting (``web.port``), if any."""
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        if key == dotted_key and environ.get(variable):
            return environ[variable]
    return None


@dataclass(frozen=True, slots=True)
class Substituted:
    """A value with its ``${NAME}`` references replaced.

    A reference to an unset variable, or a malformed one, is left as written
    and named in ``problems``; ``$${`` stands for a literal ``${``.
    """

    text: str
    replaced: bool
    problems: tuple[str, ...]


def substitute(text: str, environ: Mapping[str, str]) -> Substituted:
    """Replace every ``${NAME}`` in ``text`` from ``environ``."""
    problems: list[str] = []
    replaced = False

    def replace(match: re.Match[str]) -> str:
        nonlocal replaced
        escaped, name = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name is None:
            problems.append("malformed variable reference: write ${NAME} (or $${ for '${')")
        elif name in environ:
            replaced = True
            return environ[name]
        else:
            problems.append(f"environment variable {name} is not set")
        return match.group(0)

    return Substituted(_VARIABLE.sub(replace, text), replaced, tuple(problems))
