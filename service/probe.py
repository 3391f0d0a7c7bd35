"""`python -m service.probe`: the container's health check, asking the running service.

The image's HEALTHCHECK runs every 30 s. ``newswatch healthcheck`` loads
and validates the whole configuration (apprise's plugins to check every
notify URL: 1-2 s of CPU) and opens its own database connection; and it
fails on an on-disk edit that the running service refused and ignores
(keeping the last good configuration). What the check must say is whether
the *running* process is ready, and the process answers that itself:
``/readyz`` (database and broker reachable). This probe asks it over HTTP
with the standard library only (plus PyYAML for the port, and
``service.config.environment``: the loader's own rules for the directory,
``${NAME}`` and the ``NEWSWATCH_*`` overrides), in some 60 ms of CPU.

Where it asks: ``http://127.0.0.1:<port>/readyz``, the port as the service
reads it: ``$NEWSWATCH_WEB_PORT`` (or, with ``--worker``,
``$NEWSWATCH_WORKER_HEALTH_PORT``), else ``web.port`` (``web.worker_port``)
of ``newswatch.yaml`` in ``--config`` or ``$NEWSWATCH_CONFIG`` (default
``./config``), ``${NAME}`` replaced from the environment, else 8080 (also
when the file is not readable YAML: an edit the service refused leaves the
port it kept unknown, and the default is the likeliest). A service bound to
one address other than loopback is asked there. Exit 0 when it answers 200,
1 otherwise (the reason on standard error). With ``web.enabled: false``
there is nothing to ask: the probe runs ``newswatch healthcheck`` instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from service.config.environment import find_config_dir, override, substitute

DEFAULT_PORT = 8080  # WebSettings.port's default
TIMEOUT = 20.0  # seconds: /readyz may wait for the broker's own timeout (10 s)
_ANY_ADDRESS = ("", "0.0.0.0", "::")


class ProbeError(Exception):
    """Raised when the probe cannot tell where the service listens."""


def _web_settings(config_dir: Path) -> dict[str, Any]:
    """The ``web:`` mapping of ``newswatch.yaml`` (empty when absent)."""
    path = config_dir / "newswatch.yaml"
    if not path.is_file():
        return {}
    import yaml  # PyYAML: a dependency already, and light next to the configuration loader

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        # an edit the running service refused: it kept its last good settings, which
        # are not on disk any more; the environment and the defaults still hold
        _note(f"{path}: cannot read it ({type(e).__name__}); asking the default address")
        return {}
    web = document.get("web") if isinstance(document, dict) else None
    return web if isinstance(web, dict) else {}


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _value(raw: object, environ: Mapping[str, str]) -> str:
    """``raw`` as the loader reads it (``${NAME}`` replaced; an unset one left as written)."""
    return substitute(str(raw), environ).text


def readiness_url(config_dir: Path, environ: Mapping[str, str], *, worker: bool = False) -> str:
    """Where the running service (or worker) answers ``/readyz``."""
    key = "worker_port" if worker else "port"
    web = _web_settings(config_dir)
    raw = override(f"web.{key}", environ) or web.get(key)
    if raw is None and worker:
        raise ProbeError("no web.worker_port (nor NEWSWATCH_WORKER_HEALTH_PORT): "
                         "the worker serves no /readyz")
    try:
        port = int(_value(raw, environ)) if raw is not None else DEFAULT_PORT
    except ValueError:
        if worker:
            raise ProbeError(f"web.{key}: not a port: {raw!r}") from None
        _note(f"web.{key}: not a port: {raw!r}; asking the default port")
        port = DEFAULT_PORT
    host = _value(override("web.host", environ) or web.get("host") or "127.0.0.1", environ)
    if host in _ANY_ADDRESS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/readyz"


def probe(url: str, timeout: float = TIMEOUT) -> str | None:
    """None when ``url`` answers 200, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return None if answer.status == 200 else f"{url}: HTTP {answer.status}"
    except urllib.error.HTTPError as e:
        body = e.read(500).decode("utf-8", "replace").strip()
        return f"{url}: HTTP {e.code}: {body}"
    except (urllib.error.URLError, OSError) as e:
        return f"{url}: {getattr(e, 'reason', e)}"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.probe", description=__doc__)
    parser.add_argument("--config", help="configuration directory (else $NEWSWATCH_CONFIG)")
    parser.add_argument("--worker", action="store_true",
                        help="ask a Celery worker's /readyz (web.worker_port)")
    parser.add_argument("--url", help="ask this URL instead")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    config_dir = find_config_dir(args.config, env)
    if not args.url and not args.worker and _web_settings(config_dir).get("enabled") is False:
        # no listener to ask: the full check (configuration, database, broker) instead
        _note("web.enabled is false: running `newswatch healthcheck`")
        command = [sys.executable, "-m", "service", "healthcheck", "--config", str(config_dir)]
        return subprocess.run(command, env=dict(env), check=False).returncode
    try:
        url = args.url or readiness_url(config_dir, env, worker=args.worker)
    except ProbeError as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    problem = probe(url)
    print(f"unhealthy: {problem}" if problem else "healthy", file=sys.stderr)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
