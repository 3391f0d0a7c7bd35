"""The container and deployment files, checked against the code (Docker is not needed).

docker-compose.yml, deploy/Dockerfile, .dockerignore, .env.example and the
Kubernetes manifests under deploy/kubernetes/ are parsed and compared with what
the code really offers: the `newswatch` subcommands and their options, the
Celery app and queue, the environment variables the loader reads, the
configuration directory, the configuration itself (loaded for real), and the
HTTP probes and health checks (the ports the code binds given each container's
environment, and the paths its servers answer, served for real on a free port).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from packaging.specifiers import SpecifierSet
from typer.testing import CliRunner

import workers
from service.broker import QUEUE
from service.broker import TIMEOUT as BROKER_TIMEOUT
from service.cli import app as cli_app
from service.config import Config, ConfigError, load_config
from service.config.environment import (
    CONFIG_DIR_VARIABLE,
    ENVIRONMENT_OVERRIDES,
    find_config_dir,
)
from service.metrics import Metrics
from service.probe import TIMEOUT as PROBE_TIMEOUT
from service.probe import readiness_url
from service.web import WebContext, WebServer, make_app
from workers import settings as worker_settings
from workers.health import serve_health
from workers.observe import exposition

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
K8S = ROOT / "deploy" / "kubernetes"
CONFIG_DIR = ROOT / "config"

NEWSWATCH_SERVICES = ("migrate", "poller", "worker")
LONG_RUNNING = ("redis", "postgres", "poller", "worker")
SHELL_SPLIT = re.compile(r"&&|\|\||;|\|")
CONFIG_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
COMPOSE_VARIABLE = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


# -- loading ------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    result = compose()["services"]
    assert isinstance(result, dict)
    return result


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example:{number}: not KEY=VALUE: {line!r}"
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f".env.example:{number}: {key!r}"
        assert key not in values, f".env.example:{number}: {key} defined twice"
        values[key] = value
    return values


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:?err}, ${VAR:-default} and $$ interpolation."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3)
        current = env.get(name)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?"):
            assert current, f"compose needs {name}: {arg}"
            return current
        assert current is not None, f"{name} is not set"
        return current

    return COMPOSE_VARIABLE.sub(replace, value)


def compose_variables(value: object) -> Iterator[str]:
    """Names of the variables compose interpolates anywhere in ``value``."""
    if isinstance(value, str):
        for match in COMPOSE_VARIABLE.finditer(value):
            if match.group(0) != "$$":
                yield match.group(1) or match.group(4)
    elif isinstance(value, dict):
        for item in value.values():
            yield from compose_variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from compose_variables(item)


def interpolated(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with every string interpolated as compose does."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {k: interpolated(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolated(v, env) for v in value]
    return value


def copy_sources(rest: str) -> list[str]:
    """The sources of a Dockerfile COPY (flags and destination dropped)."""
    words = [w for w in shlex.split(rest) if not w.startswith("--")]
    return words[:-1]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                assert isinstance(doc, dict), path.name
                docs.append((path.name, doc))
    return docs


def k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc["kind"] == kind]


def workloads() -> list[dict[str, Any]]:
    return k8s_kind("Deployment") + k8s_kind("Job")


def deployment(name: str) -> dict[str, Any]:
    (found,) = [d for d in k8s_kind("Deployment") if d["metadata"]["name"] == name]
    return found


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def secret_env() -> dict[str, str]:
    (secret,) = k8s_kind("Secret")
    data = secret.get("stringData") or {}
    return {str(k): str(v) for k, v in data.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends in a line continuation"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def exec_form(text: str) -> list[str]:
    """A Dockerfile CMD/ENTRYPOINT/HEALTHCHECK CMD argument, JSON (exec) or shell form."""
    if text.startswith("["):
        words = json.loads(text)
        assert all(isinstance(w, str) for w in words)
        return list(words)
    return ["/bin/sh", "-c", text]


# -- commands -------------------------------------------------------------------------


def command_lines(words: list[str] | str) -> list[list[str]]:
    """The commands a container runs: exec words, or each part of a shell command."""
    if isinstance(words, str):
        words = shlex.split(words)
    if words[:1] == ["CMD"]:
        words = words[1:]
    elif words[:1] == ["CMD-SHELL"]:
        words = ["/bin/sh", "-c", " ".join(words[1:])]
    if words[:2] in (["/bin/sh", "-c"], ["sh", "-c"]):
        return [shlex.split(part) for part in SHELL_SPLIT.split(words[2]) if part.strip()]
    return [words]


def compose_commands() -> list[tuple[str, list[str]]]:
    found = []
    dotenv = env_example()
    for name, raw in services().items():
        service = interpolated(raw, dotenv)
        if "command" in service:
            found += [(f"compose {name} command", c) for c in command_lines(service["command"])]
        test = (service.get("healthcheck") or {}).get("test")
        if test:
            found += [(f"compose {name} healthcheck", c) for c in command_lines(test)]
    return found


def dockerfile_commands() -> list[tuple[str, list[str]]]:
    found = []
    for keyword, rest in final_stage():
        if keyword in ("CMD", "ENTRYPOINT"):
            found += [(f"Dockerfile {keyword}", c) for c in command_lines(exec_form(rest))]
        elif keyword == "HEALTHCHECK":
            assert " CMD " in f" {rest} ", f"HEALTHCHECK without CMD: {rest!r}"
            cmd = rest.split(" CMD ", 1)[1] if not rest.startswith("CMD ") else rest[4:]
            found += [("Dockerfile HEALTHCHECK", c) for c in command_lines(exec_form(cmd))]
    return found


def k8s_commands() -> list[tuple[str, list[str]]]:
    found = []
    for workload in workloads():
        name = workload["metadata"]["name"]
        for container in pod_spec(workload)["containers"]:
            words = list(container.get("command") or []) + list(container.get("args") or [])
            if words:
                found += [(f"{name} command", c) for c in command_lines(words)]
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                exec_ = (container.get(probe) or {}).get("exec")
                if exec_:
                    found += [(f"{name} {probe}", c) for c in command_lines(exec_["command"])]
    return found


def all_commands() -> list[tuple[str, list[str]]]:
    return compose_commands() + dockerfile_commands() + k8s_commands()


# typer >= 0.2x vendors its own click, so commands are compared by shape, not class.


def is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def option_names(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def check_options(where: str, command: Any, words: list[str]) -> None:
    for word in words:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in option_names(command), (
                f"{where}: {command.name} has no option {option}"
            )


def resolve_newswatch(where: str, words: list[str]) -> list[str]:
    """Walk the click tree of the typer app; every option must exist on its command.

    Returns the subcommand path, e.g. ``["db", "upgrade"]``.
    """
    command: Any = typer.main.get_command(cli_app)
    assert is_group(command) and "run" in command.commands
    path: list[str] = []
    rest = words[1:]
    while is_group(command):
        assert rest, f"{where}: `{' '.join(words)}` names no subcommand"
        assert not rest[0].startswith("-"), f"{where}: option before the subcommand: {words}"
        name, rest = rest[0], rest[1:]
        sub = command.commands.get(name)
        assert sub is not None, f"{where}: `newswatch {' '.join(path)} {name}` does not exist"
        path.append(name)
        command = sub
    check_options(where, command, rest)
    result = CliRunner().invoke(cli_app, [*path, "--help"])
    assert result.exit_code == 0, f"{where}: newswatch {' '.join(path)} --help: {result.output}"
    return path


def celery_app_name(words: list[str]) -> str:
    for index, word in enumerate(words):
        if word in ("-A", "--app"):
            return words[index + 1]
        if word.startswith("--app="):
            return word.split("=", 1)[1]
    raise AssertionError(f"celery command without -A: {words}")


def celery_queues(words: list[str]) -> list[str]:
    for index, word in enumerate(words):
        if word in ("-Q", "--queues"):
            return words[index + 1].split(",")
        if word.startswith("--queues="):
            return word.split("=", 1)[1].split(",")
    return []


def check_celery(where: str, words: list[str]) -> None:
    from celery.app.utils import find_app
    from celery.bin.celery import celery as celery_cli

    name = celery_app_name(words)
    assert find_app(name) is workers.app, f"{where}: -A {name} is not the workers Celery app"
    subcommands = [w for w in words[1:] if w in celery_cli.commands]
    assert subcommands, f"{where}: no celery subcommand in {words}"
    at = words.index(subcommands[0])
    check_options(where, celery_cli, [w for w in words[1:at] if w != name])
    sub = celery_cli.commands[subcommands[0]]
    check_options(where, sub, words[at + 1 :])
    if subcommands[0] == "worker":
        assert celery_queues(words) == [QUEUE], (
            f"{where}: worker must consume queue {QUEUE!r}: {words}"
        )


def test_every_newswatch_and_celery_command_exists() -> None:
    commands = all_commands()
    seen: dict[str, set[str]] = {}
    for where, words in commands:
        if words[0] == "newswatch":
            name = "newswatch " + " ".join(resolve_newswatch(where, words))
        elif words[0] == "celery":
            check_celery(where, words)
            words_after = [w for w in words[1:] if not w.startswith("-") and w != "workers"]
            name = f"celery {words_after[0]}"
        else:
            continue
        seen.setdefault(name, set()).add(where.split()[0])
    assert seen.get("newswatch run", set()) >= {"compose", "Dockerfile", "newswatch-poller"}
    assert seen.get("newswatch db upgrade", set()) >= {"compose", "newswatch-migrate"}
    # the image's HEALTHCHECK, compose and Kubernetes ask the HTTP endpoints (see
    # test_the_image_health_check_asks_the_running_service_with_a_light_probe)
    assert seen.get("celery worker", set()) >= {"compose", "newswatch-worker"}


@pytest.mark.parametrize(
    "words",
    [
        ["newswatch", "serve"],
        ["newswatch", "db", "downgrade"],
        ["newswatch", "run", "--forever"],
    ],
)
def test_the_command_check_catches_made_up_commands(words: list[str]) -> None:
    with pytest.raises(AssertionError):
        resolve_newswatch("example", words)


def test_the_celery_check_catches_a_wrong_queue_or_app() -> None:
    with pytest.raises(AssertionError):
        check_celery("example", ["celery", "-A", "workers", "worker", "-Q", "celery"])
    with pytest.raises(AssertionError):
        check_celery("example", ["celery", "-A", "workers", "worker", "--bogus", "-Q", "newswatch"])


def test_every_role_runs_the_expected_command() -> None:
    svc = services()
    assert command_lines(svc["migrate"]["command"]) == [["newswatch", "db", "upgrade"]]
    assert command_lines(svc["poller"]["command"])[0][:2] == ["newswatch", "run"]
    worker = command_lines(svc["worker"]["command"])[0]
    assert worker[:4] == ["celery", "-A", "workers", "worker"]
    k8s_worker = pod_spec(deployment("newswatch-worker"))["containers"][0]["command"]
    assert k8s_worker[:4] == ["celery", "-A", "workers", "worker"]
    assert celery_queues(k8s_worker) == [QUEUE]
    (job,) = k8s_kind("Job")
    assert pod_spec(job)["containers"][0]["command"] == ["newswatch", "db", "upgrade"]
    assert exec_form(dict(final_stage())["CMD"]) == ["newswatch", "run"]


# -- environment ------------------------------------------------------------------------


def variables_the_code_reads(names: set[str]) -> set[str]:
    """Of ``names``, those the configuration loader really uses."""
    read = set(ENVIRONMENT_OVERRIDES)
    for name in names:
        if find_config_dir(None, {name: "/probe"}) == Path("/probe"):
            read.add(name)
    return read


def newswatch_variables() -> dict[str, set[str]]:
    """Every NEWSWATCH_* variable set anywhere, with where."""
    found: dict[str, set[str]] = {}
    for name, service in services().items():
        for var in environment(service):
            found.setdefault(var, set()).add(f"compose {name}")
    for var in env_example():
        found.setdefault(var, set()).add(".env.example")
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for word in shlex.split(rest):
                found.setdefault(word.split("=", 1)[0], set()).add("Dockerfile")
    for workload in workloads():
        for container in pod_spec(workload)["containers"]:
            for item in container.get("env") or []:
                found.setdefault(item["name"], set()).add(workload["metadata"]["name"])
    for var in secret_env():
        found.setdefault(var, set()).add("secret.yaml")
    return {k: v for k, v in found.items() if k.startswith("NEWSWATCH_")}


def test_every_newswatch_variable_is_read_by_the_code() -> None:
    found = newswatch_variables()
    read = variables_the_code_reads(set(found))
    unknown = {var: sorted(where) for var, where in found.items() if var not in read}
    assert not unknown, f"set but never read by newswatch: {unknown}"
    assert CONFIG_DIR_VARIABLE in found
    assert set(ENVIRONMENT_OVERRIDES) <= set(found)
    assert variables_the_code_reads({"NEWSWATCH_CONFIG_DIR"}) == set(ENVIRONMENT_OVERRIDES)


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            for word in shlex.split(rest):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def test_the_config_directory_is_where_newswatch_config_points() -> None:
    config_dir = dockerfile_env()[CONFIG_DIR_VARIABLE]
    assert config_dir == "/app/config"
    copies = [rest for kw, rest in final_stage() if kw == "COPY"]
    assert any(
        [src.rstrip("/") for src in copy_sources(rest)] == ["config"]
        and shlex.split(rest)[-1].rstrip("/") == config_dir
        for rest in copies
    ), "the image does not copy config/ to NEWSWATCH_CONFIG"
    for name in NEWSWATCH_SERVICES:
        service = services()[name]
        assert environment(service)[CONFIG_DIR_VARIABLE] == config_dir, name
        mounts = [str(v).split(":") for v in service["volumes"]]
        config_mounts = [m for m in mounts if m[1] == config_dir]
        assert config_mounts, f"compose {name} mounts nothing at {config_dir}"
        source, _, *mode = config_mounts[0]
        assert (ROOT / source).resolve() == CONFIG_DIR, f"compose {name} mounts {source}"
        assert mode == ["ro"], f"compose {name}: mount the configuration read-only"
    for workload in workloads():
        for container in pod_spec(workload)["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env") or []}
            where = env.get(CONFIG_DIR_VARIABLE, config_dir)
            by_path = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert where in by_path, f"{workload['metadata']['name']}: nothing at {where}"
            assert by_path[where].get("readOnly") is True


def compose_env(service_name: str) -> dict[str, str]:
    """The environment a newswatch container gets: env_file, then environment."""
    dotenv = env_example()
    service = services()[service_name]
    assert service["env_file"] in (".env", [".env"]), service_name
    env = dict(dotenv)
    env.update({k: interpolate(v, dotenv) for k, v in environment(service).items()})
    return env


def test_compose_configuration_loads_and_points_at_the_compose_services() -> None:
    svc = services()
    postgres_env = environment(svc["postgres"])
    for name in NEWSWATCH_SERVICES:
        env = compose_env(name)
        config = load_config(CONFIG_DIR, env)
        db = urlsplit(config.settings.database_url)
        assert db.scheme == "postgresql+psycopg"
        assert db.hostname in svc and svc[db.hostname]["image"].startswith("postgres:")
        assert db.port == 5432
        assert db.username == postgres_env["POSTGRES_USER"]
        assert db.password == env_example()["POSTGRES_PASSWORD"]
        assert db.path == "/" + postgres_env["POSTGRES_DB"]
        broker = urlsplit(config.settings.broker_url or "")
        assert broker.scheme == "redis"
        assert broker.hostname in svc and svc[broker.hostname]["image"].startswith("redis:")
        assert broker.port == 6379
    assert interpolate(postgres_env["POSTGRES_PASSWORD"], env_example()) == env_example()[
        "POSTGRES_PASSWORD"
    ]


def test_env_example_defines_every_variable_compose_and_the_configs_use() -> None:
    defined = set(env_example())
    used = set(compose_variables(compose()))
    assert "POSTGRES_PASSWORD" in used
    assert used <= defined, f"not in .env.example: {sorted(used - defined)}"
    # also the ${VAR} of config/, commented examples included
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        names = set(CONFIG_VARIABLE.findall(path.read_text(encoding="utf-8")))
        assert names <= defined, f"{path.name}: not in .env.example: {sorted(names - defined)}"


def test_the_interpolation_helper_refuses_what_compose_refuses() -> None:
    assert interpolate("a${X:-d}b$$c", {}) == "adb$c"
    with pytest.raises(AssertionError):
        interpolate("${POSTGRES_PASSWORD:?set it}", {})
    assert set(compose_variables({"a": ["$${NOPE} ${YES}"]})) == {"YES"}


# -- compose services -----------------------------------------------------------------------


def test_compose_uses_the_spec_without_version_and_shares_an_anchor() -> None:
    data = compose()
    assert "version" not in data
    anchor = data["x-newswatch"]
    assert anchor["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    assert (ROOT / anchor["build"]["context"] / anchor["build"]["dockerfile"]).is_file()
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert re.search(r"^x-newswatch: &newswatch$", text, re.M)
    for name in NEWSWATCH_SERVICES:
        assert re.search(rf"^  {name}:\n    <<: \*newswatch$", text, re.M), name
        service = services()[name]
        assert service["build"] == anchor["build"] and service["image"] == anchor["image"]


def test_redis_keeps_queued_tasks() -> None:
    redis = services()["redis"]
    assert redis["image"].startswith("redis:7")
    words = shlex.split(redis["command"]) if isinstance(redis["command"], str) else redis["command"]
    assert words[0] == "redis-server"
    options = dict(zip(words[1::2], words[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert options["--appendfsync"] in ("everysec", "always")
    assert any(str(v).endswith(":/data") for v in redis["volumes"])


def test_postgres_has_a_volume_and_its_password_from_the_env_file() -> None:
    postgres = services()["postgres"]
    assert postgres["image"].startswith("postgres:16")
    env = environment(postgres)
    assert env["POSTGRES_DB"] == env["POSTGRES_USER"] == "newswatch"
    assert set(compose_variables(env["POSTGRES_PASSWORD"])) == {"POSTGRES_PASSWORD"}
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    named = {str(v).split(":")[0] for s in services().values() for v in s.get("volumes", [])}
    for volume in compose()["volumes"]:
        assert volume in named


def test_long_running_services_have_a_healthcheck() -> None:
    svc = services()
    for name in LONG_RUNNING:
        check = svc[name].get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
    assert "redis-cli" in command_lines(svc["redis"]["healthcheck"]["test"])[0][0]
    assert command_lines(svc["postgres"]["healthcheck"]["test"])[0][0] == "pg_isready"
    for name in ("poller", "worker"):
        # what the URL asks is checked against the code in test_compose_health_checks_*
        assert urlsplit(health_check_url(svc[name])).path == "/readyz", name


def test_start_order() -> None:
    svc = services()
    assert svc["migrate"]["restart"] == "no"
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("poller", "worker"):
        deps = svc[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert svc[name]["restart"] in ("unless-stopped", "always"), name


def seconds(duration: str | int) -> float:
    if isinstance(duration, int):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_worker_scales_and_stops_gracefully() -> None:
    svc = services()
    for key in ("container_name", "ports", "hostname"):
        assert key not in svc["worker"], f"worker cannot scale with {key}"
    assert seconds(svc["worker"]["stop_grace_period"]) >= worker_settings.TASK_TIME_LIMIT
    assert seconds(svc["poller"]["stop_grace_period"]) >= 30
    assert all("container_name" not in s for s in svc.values())
    assert seconds("1m30s") == 90 and seconds("630s") == 630


# -- Dockerfile and .dockerignore ------------------------------------------------------------


def test_dockerfile_is_multistage_slim_non_root_and_installs_from_pyproject() -> None:
    instructions = dockerfile_instructions()
    froms = [shlex.split(rest) for kw, rest in instructions if kw == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    for words in froms:
        assert words[0] == "python:3.11-slim"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "3.11" in SpecifierSet(project["requires-python"])
    stages = {words[2] for words in froms if len(words) == 3 and words[1].upper() == "AS"}
    for kw, rest in instructions:
        if kw == "COPY" and "--from=" in rest:
            assert rest.split("--from=")[1].split()[0] in stages
    runs = " ".join(rest for kw, rest in instructions if kw == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "pip install . (from pyproject)"
    copied = {src for kw, rest in instructions if kw == "COPY" for src in copy_sources(rest)}
    assert "pyproject.toml" in copied
    for package in ("service", "workers"):
        assert any(c.rstrip("/") == package for c in copied), f"{package}/ is not copied"

    final = final_stage()
    users = [rest for kw, rest in final if kw == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    if user.isdigit():
        assert int(user) >= 1000
    workdirs = [rest for kw, rest in final if kw == "WORKDIR"]
    assert workdirs[-1] == "/app"
    assert [kw for kw, _ in final].count("HEALTHCHECK") == 1
    env = dockerfile_env()
    assert env["PYTHONUNBUFFERED"] == "1"
    assert exec_form(dict(final)["CMD"]) == ["newswatch", "run"]


C_MODULES = ("service/matching/_core.c", "service/stories/_sketch.c",
             "service/stories/_segments.c", "service/_language.c")


def test_the_c_modules_are_compiled_in_the_build_stage_and_only_their_result_kept() -> None:
    instructions = dockerfile_instructions()
    final = final_stage()
    build = instructions[: len(instructions) - len(final)]
    copied = {src for kw, rest in build if kw == "COPY" for src in copy_sources(rest)}
    assert "setup.py" in copied, "setup.py builds the C modules"
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    for source in C_MODULES:
        assert source in setup
        assert not ignored(source)
        assert ignored(source.replace(".c", ".cpython-311-x86_64-linux-gnu.so")), "a local build"
    build_runs = " ".join(rest for kw, rest in build if kw == "RUN")
    final_runs = " ".join(rest for kw, rest in final if kw == "RUN")
    assert "build-essential" in build_runs
    assert "build-essential" not in final_runs and "gcc" not in final_runs
    assert any("--from=build" in rest and "/opt/venv" in rest for kw, rest in final if kw == "COPY")


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or a parent."""
    result = False
    parts = path.split("/")
    for raw in dockerignore_patterns():
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            anywhere = pattern.startswith("**/") and fnmatch.fnmatch(parts[end - 1], pattern[3:])
            if fnmatch.fnmatch(prefix, pattern) or anywhere:
                result = not negate
                break
    return result


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    for path in (".venv/bin/python", ".git/HEAD", "data/newswatch.db", ".env",
                 "service/__pycache__/cli.cpython-311.pyc", ".pytest_cache/v",
                 ".mypy_cache/x", ".ruff_cache/x", ".hypothesis/x", "tests/test_deploy.py",
                 "newswatch.egg-info/PKG-INFO"):
        assert ignored(path), f"{path} would be sent to the build"
    sources = [src for kw, rest in dockerfile_instructions()
               if kw == "COPY" and "--from=" not in rest for src in copy_sources(rest)]
    assert {"pyproject.toml", "service/", "workers/", "config/"} <= set(sources)
    for source in sources:
        for match in sorted(ROOT.glob(source.rstrip("/"))):
            files = [match] if match.is_file() else sorted(match.rglob("*.py")) + sorted(
                match.rglob("*.yaml")
            )
            assert files, source
            for file in files:
                if "__pycache__" not in file.parts:
                    rel = file.relative_to(ROOT).as_posix()
                    assert not ignored(rel), f"{rel} is COPYed but .dockerignore drops it"
    assert not ignored("deploy/Dockerfile")


# -- Kubernetes --------------------------------------------------------------------------------


def test_every_manifest_parses_and_kustomization_lists_exactly_them() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == {p.name for p in k8s_files()}
    docs = k8s_documents()
    assert {doc["kind"] for _, doc in docs} >= {
        "Namespace", "ConfigMap", "Secret", "Deployment", "Job"
    }
    for name, doc in docs:
        assert doc.get("apiVersion") and doc["metadata"].get("name"), name
    (namespace,) = k8s_kind("Namespace")
    assert kustomization["namespace"] == namespace["metadata"]["name"]
    images = {c["image"].split(":")[0] for w in workloads() for c in pod_spec(w)["containers"]}
    assert images == {i["name"] for i in kustomization.get("images", [])}


def test_workloads_are_hardened_and_sized() -> None:
    (secret,) = k8s_kind("Secret")
    for workload in workloads():
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec["terminationGracePeriodSeconds"] >= 60, name
        pod_security = spec.get("securityContext") or {}
        volumes = {v["name"]: v for v in spec["volumes"]}
        if workload["kind"] == "Deployment":
            selector = workload["spec"]["selector"]["matchLabels"]
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), name
        else:
            assert spec["restartPolicy"] in ("OnFailure", "Never"), name
        for container in spec["containers"]:
            security = {**pod_security, **(container.get("securityContext") or {})}
            assert security.get("runAsNonRoot") is True, name
            assert security.get("runAsUser", 1) != 0, name
            assert security.get("allowPrivilegeEscalation") is False, name
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind}"
            refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
            assert refs == [secret["metadata"]["name"]], name
            if security.get("readOnlyRootFilesystem"):
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be writable"
            for mount in container["volumeMounts"]:
                assert mount["name"] in volumes, name
            if workload["kind"] == "Deployment":
                for probe in ("livenessProbe", "readinessProbe"):
                    check = container[probe]
                    assert set(check) & PROBE_HANDLERS == {"httpGet"}, f"{name}: {probe}"
                    assert check.get("timeoutSeconds", 1) < check.get("periodSeconds", 10)
                # /readyz waits for the database (connect_timeout 10 s, see
                # service/storage/engine.py) and then the broker
                readiness = container["readinessProbe"]
                assert readiness.get("timeoutSeconds", 1) >= 10 + BROKER_TIMEOUT, name


def test_poller_and_worker_deployments() -> None:
    poller = deployment("newswatch-poller")
    worker = deployment("newswatch-worker")
    # one poller by default (feeds and alerts are claimed, so more would share the work)
    assert poller["spec"]["replicas"] == 1
    assert poller["spec"]["strategy"]["type"] == "Recreate"
    assert worker["spec"]["replicas"] == 2
    grace = pod_spec(worker)["terminationGracePeriodSeconds"]
    assert grace >= worker_settings.TASK_TIME_LIMIT
    for path in k8s_files():
        assert "TODO" not in path.read_text(encoding="utf-8"), path.name


def materialise(volume: Mapping[str, Any], target: Path) -> dict[str, set[str]]:
    """Write a configMap/projected volume as the kubelet would; returns keys used per map."""
    maps = {m["metadata"]["name"]: m["data"] for m in k8s_kind("ConfigMap")}
    sources = volume["projected"]["sources"] if "projected" in volume else [volume]
    used: dict[str, set[str]] = {}
    for source in sources:
        ref = source["configMap"]
        data = maps[ref["name"]]
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            assert item["key"] in data, f"{ref['name']} has no key {item['key']}"
            assert not item["path"].startswith("/") and ".." not in item["path"].split("/")
            path = target / item["path"]
            assert not path.exists(), f"two sources write {item['path']}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[item["key"]], encoding="utf-8")
            used.setdefault(ref["name"], set()).add(item["key"])
    return used


def config_volume(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec = pod_spec(workload)
    (container,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env") or []}
    where = env.get(CONFIG_DIR_VARIABLE, dockerfile_env()[CONFIG_DIR_VARIABLE])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == where]
    assert "subPath" not in mount, "subPath mounts never see ConfigMap updates"
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    return dict(volume)


def test_configmaps_hold_a_valid_configuration(tmp_path: Path) -> None:
    from service.notify.recipients import build_recipients

    maps = {m["metadata"]["name"]: m["data"] for m in k8s_kind("ConfigMap")}
    for name, data in maps.items():
        assert all("/" not in key for key in data), name
        size = sum(len(k) + len(v.encode()) for k, v in data.items())
        assert size < 1024 * 1024, f"{name}: a ConfigMap holds at most 1 MiB"
    env = secret_env()
    for workload in workloads():
        target = tmp_path / workload["metadata"]["name"]
        target.mkdir()
        used = materialise(config_volume(workload), target)
        for name, keys in used.items():
            assert keys == set(maps[name]), f"{name}: keys not mounted: {set(maps[name]) - keys}"
        assert set(used) == set(maps)
        assert (target / "feeds.yaml").is_file()
        assert sorted(p.name for p in (target / "watchlists").glob("*.yaml"))
        config = load_config(target, env)
        assert config.settings.database_url == env["NEWSWATCH_DATABASE_URL"]
        assert config.settings.broker_url == env["NEWSWATCH_BROKER_URL"]
        assert config.feeds and config.watchlists.subscriptions
        # the notify URLs (placeholders included) are ones apprise understands
        assert set(build_recipients(config)) == {s.id for s in config.watchlists.subscriptions}
    # the Secret provides every ${VAR}, and .env.example documents them too
    wanted = {v for data in maps.values() for text in data.values()
              for v in CONFIG_VARIABLE.findall(text)}
    assert wanted, "the ConfigMap should show how secrets reach the watchlists"
    assert wanted <= set(env), f"not in the Secret: {sorted(wanted - set(env))}"
    assert wanted <= set(env_example()), f"not in .env.example: {sorted(wanted - set(env))}"


def test_a_missing_secret_variable_fails_the_configmap_config(tmp_path: Path) -> None:
    (poller,) = [w for w in workloads() if w["metadata"]["name"] == "newswatch-poller"]
    materialise(config_volume(poller), tmp_path)
    env = {k: v for k, v in secret_env().items() if not k.endswith("_SLACK")}
    with pytest.raises(ConfigError, match="not set"):
        load_config(tmp_path, env)


# -- HTTP probes and health checks ---------------------------------------------------------------

PROBE_KINDS = ("startupProbe", "livenessProbe", "readinessProbe")
PROBE_HANDLERS = {"exec", "httpGet", "tcpSocket", "grpc"}
ALL_INTERFACES = ("0.0.0.0", "::")
NO_SUCH_PATH = "/no-such-path"


def role_of(words: list[str]) -> str:
    """Which HTTP server a command starts: `newswatch run`'s web app, or a worker's."""
    (line,) = command_lines(words)
    if line[:2] == ["newswatch", "run"]:
        return "poller"
    if line[:4] == ["celery", "-A", "workers", "worker"]:
        return "worker"
    raise AssertionError(f"serves no HTTP endpoints: {words}")


def web_routes() -> set[str]:
    """The GET paths of the web app `newswatch run` serves (service/web.py)."""
    app = make_app(WebContext(metrics=Metrics(), readiness=lambda: [], version="test"))
    return {route.resource.canonical for route in app.router.routes()
            if route.method == "GET" and route.resource is not None}


def bound_address(role: str, config: Config) -> tuple[str, int]:
    """Where the code listens given ``config`` (service/runner.py, workers/app.py)."""
    web = config.settings.web
    if role == "poller":
        assert web.enabled, "web.enabled is false: `newswatch run` serves nothing"
        return web.host, web.port
    assert web.worker_port is not None, "no web.worker_port: the worker serves nothing"
    return web.host, web.worker_port


@contextmanager
def serving(role: str, problems: list[str]) -> Iterator[int]:
    """The role's real HTTP server on a free loopback port; /readyz reports ``problems``."""

    def readiness() -> list[str]:
        return list(problems)

    if role == "worker":
        server = serve_health("127.0.0.1", 0, readiness, exposition)
        try:
            yield int(server.server_port)
        finally:
            server.shutdown()
            server.server_close()
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    web = WebServer(WebContext(Metrics(), readiness, "test"), "127.0.0.1", 0)
    try:
        yield asyncio.run_coroutine_threadsafe(web.start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(web.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def fetch(port: int, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET ``path``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return int(response.status), response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def statuses(role: str, paths: set[str], problems: list[str]) -> dict[str, int]:
    with serving(role, problems) as port:
        return {path: fetch(port, path)[0] for path in paths}


def check_paths_answer(role: str, alive: set[str], ready: set[str]) -> None:
    """``alive`` answer 200 even with the database down (no restart for an outage);
    ``ready`` answer 200, and 503 while the database or broker is unreachable."""
    if role == "poller":
        assert alive | ready <= web_routes(), f"not routes of the web app: {alive | ready}"
    paths = alive | ready | {NO_SUCH_PATH}
    up = statuses(role, paths, [])
    down = statuses(role, paths, ["database unreachable"])
    assert up[NO_SUCH_PATH] == down[NO_SUCH_PATH] == 404, role
    for path in alive:
        assert up[path] == down[path] == 200, f"{role} {path}: {up[path]}, {down[path]}"
    for path in ready:
        assert (up[path], down[path]) == (200, 503), f"{role} {path}: {up[path]}, {down[path]}"


def k8s_container_env(container: Mapping[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, then envFrom (the Secret), then env."""
    env = dict(dockerfile_env())
    for source in container.get("envFrom") or []:
        assert set(source) == {"secretRef"}, source
        env.update(secret_env())
    for item in container.get("env") or []:
        assert "value" in item, f"{item['name']}: valueFrom is not checked here"
        env[item["name"]] = str(item["value"])
    return env


def check_variables(where: str, names: list[str]) -> None:
    for name in names:
        if name.startswith("NEWSWATCH_"):
            assert name in {*ENVIRONMENT_OVERRIDES, CONFIG_DIR_VARIABLE}, (
                f"{where}: newswatch does not read {name}"
            )


def container_port(container: Mapping[str, Any], port: int | str) -> int:
    """The containerPort a probe or Service ``port`` (a name or a number) designates."""
    ports = container.get("ports") or []
    names = [p["name"] for p in ports if "name" in p]
    assert len(names) == len(set(names)), names
    if isinstance(port, str) and not port.isdigit():
        found = [p["containerPort"] for p in ports if p.get("name") == port]
        assert found, f"{container['name']} has no port named {port!r}"
        return int(found[0])
    assert int(port) in [p["containerPort"] for p in ports], f"{port} is not a containerPort"
    return int(port)


def k8s_bound_address(workload: Mapping[str, Any], tmp_path: Path) -> tuple[str, str, int]:
    """(role, host, port) the container's process binds, its ConfigMap and env loaded."""
    (container,) = pod_spec(workload)["containers"]
    role = role_of(list(container["command"]) + list(container.get("args") or []))
    target = tmp_path / workload["metadata"]["name"]
    target.mkdir()
    materialise(config_volume(workload), target)
    host, port = bound_address(role, load_config(target, k8s_container_env(container)))
    return role, host, port


@pytest.mark.parametrize("name", ["newswatch-poller", "newswatch-worker"])
def test_kubernetes_probes_ask_what_the_code_serves(name: str, tmp_path: Path) -> None:
    workload = deployment(name)
    (container,) = pod_spec(workload)["containers"]
    check_variables(name, [item["name"] for item in container.get("env") or []])
    role, host, port = k8s_bound_address(workload, tmp_path)
    assert host in ALL_INTERFACES, f"{name}: web.host {host}: the kubelet cannot reach it"
    probes = {kind: container[kind] for kind in PROBE_KINDS if kind in container}
    assert {"livenessProbe", "readinessProbe"} <= set(probes)
    paths: dict[str, set[str]] = {"alive": set(), "ready": set()}
    for kind, probe in probes.items():
        assert set(probe) & PROBE_HANDLERS == {"httpGet"}, f"{name} {kind}"
        get = probe["httpGet"]
        assert get.get("scheme", "HTTP") == "HTTP", f"{name} {kind}"
        bound = container_port(container, get["port"])
        assert bound == port, f"{name} {kind}: port {get['port']} ({bound}), code binds {port}"
        paths["ready" if kind == "readinessProbe" else "alive"].add(get["path"])
    assert paths == {"alive": {"/healthz"}, "ready": {"/readyz"}}, name
    check_paths_answer(role, paths["alive"], paths["ready"])


def test_the_probe_checks_catch_a_wrong_path_or_port() -> None:
    with pytest.raises(AssertionError):
        check_paths_answer("poller", {"/health"}, set())
    with pytest.raises(AssertionError):
        check_paths_answer("worker", set(), {"/metrics"})
    with pytest.raises(AssertionError):
        check_paths_answer("worker", {"/readyz"}, set())  # 503 while the database is down
    (container,) = pod_spec(deployment("newswatch-poller"))["containers"]
    with pytest.raises(AssertionError):
        container_port(container, "health")
    with pytest.raises(AssertionError):
        container_port(container, 9999)
    with pytest.raises(AssertionError):
        check_variables("example", ["NEWSWATCH_HTTP_PORT"])


def test_the_poller_service_targets_its_port_and_prometheus_scrapes_metrics(
    tmp_path: Path,
) -> None:
    (service,) = k8s_kind("Service")
    poller, worker = deployment("newswatch-poller"), deployment("newswatch-worker")
    selector = service["spec"]["selector"]
    assert selector.items() <= poller["spec"]["template"]["metadata"]["labels"].items()
    assert not selector.items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    (container,) = pod_spec(poller)["containers"]
    _, _, bound = k8s_bound_address(poller, tmp_path)
    (port,) = service["spec"]["ports"]
    assert isinstance(port["targetPort"], str), "target the poller's named port"
    assert container_port(container, port["targetPort"]) == bound
    assert port["targetPort"] == container["readinessProbe"]["httpGet"]["port"]
    annotations = service["metadata"]["annotations"]
    assert all(isinstance(v, str) for v in annotations.values()), "annotations are strings"
    assert annotations["prometheus.io/scrape"] == "true"
    # the usual scrape job replaces the endpoint's port with this one: the pod's
    assert int(annotations["prometheus.io/port"]) == bound
    path = annotations["prometheus.io/path"]
    assert path in web_routes()
    with serving("poller", []) as free:
        status, content_type, body = fetch(free, path)
    assert status == 200 and content_type.startswith("text/plain"), (status, content_type)
    assert b"newswatch_feed_polls" in body
    # workers serve their own /metrics on their health port: scraped pod by pod
    # (their pod annotations), never through the poller's Service
    pod = worker["spec"]["template"]["metadata"]["annotations"]
    assert all(isinstance(v, str) for v in pod.values()), "annotations are strings"
    assert pod["prometheus.io/scrape"] == "true"
    _, _, worker_port = k8s_bound_address(worker, tmp_path)
    assert int(pod["prometheus.io/port"]) == worker_port
    with serving("worker", []) as free:
        status, content_type, body = fetch(free, pod["prometheus.io/path"])
    assert status == 200 and content_type.startswith("text/plain"), (status, content_type)
    assert b"newswatch_worker_articles" in body


def health_check_code(service: Mapping[str, Any]) -> str:
    """The Python of a `python -c` health check (the slim image has no curl)."""
    (words,) = command_lines(service["healthcheck"]["test"])
    assert words[:2] == ["python", "-c"] and len(words) == 3, words
    return words[2]


def health_check_url(service: Mapping[str, Any]) -> str:
    (url,) = re.findall(r"https?://[^'\"\s]+", health_check_code(service))
    return str(url)


@pytest.mark.parametrize("name", ["poller", "worker"])
def test_compose_health_checks_ask_what_the_code_serves(name: str) -> None:
    service = services()[name]
    check_variables(f"compose {name}", list(environment(service)))
    role = role_of(service["command"])
    host, port = bound_address(role, load_config(CONFIG_DIR, compose_env(name)))
    url = urlsplit(health_check_url(service))
    # the check runs inside the container
    assert url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost"), url
    assert host in (*ALL_INTERFACES, url.hostname), f"compose {name}: web.host {host}"
    assert url.port == port, f"compose {name}: checks port {url.port}, code binds {port}"
    check_paths_answer(role, set(), {url.path})
    # the one-liner itself, against the real server: exit 0 when ready, 1 when not
    code = health_check_code(service)
    (timeout,) = re.findall(r"timeout=(\d+)", code)
    assert seconds(service["healthcheck"]["timeout"]) > int(timeout) >= 10 + BROKER_TIMEOUT
    for problems, healthy in (([], True), (["broker unreachable"], False)):
        with serving(role, problems) as free:
            moved = code.replace(f":{port}/", f":{free}/")
            assert moved != code
            result = subprocess.run([sys.executable, "-c", moved], capture_output=True,
                                    timeout=60, check=False)
        assert (result.returncode == 0) is healthy, (problems, result.stderr)
    # published ports (the poller's only) lead to the port the code binds
    for mapping in service.get("ports") or []:
        published = interpolate(str(mapping), env_example()).split(":")
        assert published[0] == "127.0.0.1", f"compose {name}: publish on loopback only"
        assert int(published[-1]) == port, f"compose {name}: {mapping} but code binds {port}"


def test_readme_covers_build_compose_scaling_and_kubernetes() -> None:
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    for needle in ("docker build -f deploy/Dockerfile", "docker compose up",
                   "--scale worker=", "kubectl apply -k deploy/kubernetes"):
        assert needle in text, needle


# -- the image's own health check ---------------------------------------------------

HEAVY = ("apprise", "sqlalchemy", "typer", "rich", "pydantic", "celery", "aiohttp", "jinja2",
         "service.config.loader", "service.config.models", "service.storage", "service.cli")


def image_health_check() -> tuple[dict[str, str], list[str]]:
    """The HEALTHCHECK's options (--name=value) and its command."""
    (rest,) = [rest for kw, rest in final_stage() if kw == "HEALTHCHECK"]
    options, _, command = rest.partition("CMD ")
    pairs = (word.removeprefix("--").split("=", 1) for word in shlex.split(options))
    (words,) = command_lines(exec_form(command.strip()))
    return {k: v for k, v in pairs}, words


def image_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The image's environment with the variables its example configuration needs."""
    assert dockerfile_env()[CONFIG_DIR_VARIABLE] == "/app/config"  # CONFIG_DIR's copy
    return {**env_example(), **dockerfile_env(), **(extra or {})}


def run_probe(args: list[str], env: Mapping[str, str]) -> tuple[int, list[str], str]:
    """``python -m service.probe`` as the image runs it: exit code, the heavy modules it
    imported, what it wrote."""
    code = ("import json, sys; from service.probe import main; rc = main(sys.argv[1:]); "
            f"print(json.dumps([rc, sorted(m for m in sys.modules if m.startswith({HEAVY!r}))]))")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                            text=True, timeout=60, check=False, cwd=ROOT, env=dict(env))
    rc, heavy = json.loads(result.stdout)
    return int(rc), list(heavy), result.stderr


def test_the_image_health_check_asks_the_running_service_with_a_light_probe(
    tmp_path: Path,
) -> None:
    options, words = image_health_check()
    assert words == ["python", "-m", "service.probe"], words
    # /readyz may wait for the broker's timeout; Docker must wait for the probe
    assert seconds(options["timeout"]) > PROBE_TIMEOUT >= 10 + BROKER_TIMEOUT
    # where it asks is where `newswatch run` binds, in the image and in compose
    for env in (image_env(), compose_env("poller")):
        host, port = bound_address("poller", load_config(CONFIG_DIR, env))
        url = urlsplit(readiness_url(CONFIG_DIR, env))
        assert (url.scheme, url.path, url.port) == ("http", "/readyz", port), url
        assert host in (*ALL_INTERFACES, url.hostname), host
    worker_env = compose_env("worker")
    _, worker_port = bound_address("worker", load_config(CONFIG_DIR, worker_env))
    assert urlsplit(readiness_url(CONFIG_DIR, worker_env, worker=True)).port == worker_port
    # against the real server: 0 when ready, 1 when not; nothing heavy imported
    config = tmp_path / "config"
    config.mkdir()
    for problems, healthy in (([], True), (["broker unreachable"], False)):
        with serving("poller", problems) as free:
            (config / "newswatch.yaml").write_text(f"web:\n  port: {free}\n")
            rc, heavy, said = run_probe([], image_env({CONFIG_DIR_VARIABLE: str(config)}))
        assert (rc == 0) is healthy, (problems, said)
        assert heavy == [], heavy
    assert "broker unreachable" in said


def test_with_the_web_listener_off_the_probe_runs_the_full_health_check(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "feeds.yaml").write_text("feeds: []\n")
    env = image_env({CONFIG_DIR_VARIABLE: str(config)})
    env.pop("NEWSWATCH_DATABASE_URL", None)
    for database, healthy in ((f"sqlite:///{tmp_path}/nw.db", True),
                              ("postgresql+psycopg://nobody@127.0.0.1:9/none", False)):
        (config / "newswatch.yaml").write_text(
            f"database_url: {database}\nweb:\n  enabled: false\n")
        rc, _, said = run_probe([], env)
        assert (rc == 0) is healthy, said
        assert "web.enabled is false" in said
    assert "unhealthy" in said


def test_the_probe_passes_while_the_service_keeps_its_config_over_a_refused_edit(
    tmp_path: Path,
) -> None:
    """`newswatch healthcheck` fails on an on-disk edit the running service refused;
    the probe asks the service, which is still ready."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "newswatch.yaml").write_text("web: {port: [unclosed\n")
    (config / "feeds.yaml").write_text("feeds: []\n")
    env = image_env({CONFIG_DIR_VARIABLE: str(config)})
    with pytest.raises(ConfigError):
        load_config(config, env)
    with serving("poller", []) as free:
        rc, _, said = run_probe([], {**env, "NEWSWATCH_WEB_PORT": str(free)})
    assert rc == 0, said
    rc, _, said = run_probe(["--worker"], env)  # nowhere to ask: said so
    assert rc == 1 and "worker_port" in said
