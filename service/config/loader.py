"""Load and validate a configuration directory, reporting every problem.

Pipeline, per file and then across files::

    read bytes ─► parse YAML (lines of every key) ─► substitute ${NAME}
        ─► validate with the pydantic models (errors mapped to lines)
    across files (cross_checks): duplicate feed URLs, duplicate ids per kind,
        subscription references, notify URLs, topic query syntax
    any problem ─► ConfigError(every problem) ; none ─► Config
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from service.config.cross_checks import check_feed_urls, check_ops_notify, check_watchlists
from service.config.environment import (
    ENVIRONMENT_OVERRIDES,
    substitute,
)
from service.config.memory import release_free_memory
from service.config.models import Config, FeedsFile, Settings, WatchlistFile, Watchlists
from service.config.suggestions import did_you_mean
from service.config.yaml_lines import YamlDocument, YamlPath, parse_yaml
from service.errors import ConfigError, ConfigProblem

SETTINGS_FILE = "newswatch.yaml"
FEEDS_FILE = "feeds.yaml"
WATCHLISTS_DIR = "watchlists"

_M = TypeVar("_M", bound=BaseModel)


def load_config(directory: str | os.PathLike[str], environ: Mapping[str, str]) -> Config:
    """Read, substitute and validate ``directory``; raise ``ConfigError`` listing every problem."""
    root = Path(directory)
    if not root.is_dir():
        message = "configuration directory not found"
        raise ConfigError([ConfigProblem(str(root), None, None, message)])
    settings_src = _load(root, SETTINGS_FILE, environ, required=False)
    feeds_src = _load(root, FEEDS_FILE, environ, required=True)
    watch_srcs = [_load(root, name, environ, required=True) for name in _watchlist_names(root)]
    settings = _validate(Settings, settings_src.doc) if settings_src.raw is not None else Settings()
    feeds = _validate(FeedsFile, feeds_src.doc)
    watchlists = [_validate(WatchlistFile, src.doc) for src in watch_srcs]
    check_feed_urls(feeds_src.doc)
    check_ops_notify(settings_src.doc)
    check_watchlists([src.doc for src in watch_srcs])
    sources = [settings_src, feeds_src, *watch_srcs]
    problems = [p for src in sources for p in _sorted(src.doc.problems)]
    if problems or settings is None or feeds is None:
        raise ConfigError(problems)
    config = Config(
        directory=str(root.resolve()),
        settings=_environment_overrides(settings, environ),
        feeds=feeds.feeds,
        watchlists=_merge([w for w in watchlists if w is not None]),
        version=_version(sources),
    )
    del settings_src, feeds_src, watch_srcs, sources  # the YAML documents: garbage now
    release_free_memory()
    return config


def _environment_overrides(settings: Settings, environ: Mapping[str, str]) -> Settings:
    problems = []
    for variable, dotted in ENVIRONMENT_OVERRIDES.items():
        if not environ.get(variable):
            continue
        try:
            settings = _override(settings, dotted.split("."), environ[variable])
        except ValidationError as e:
            reason = e.errors()[0]["msg"]
            problems.append(
                ConfigProblem("environment", None, variable, f"not a valid {dotted}: {reason}")
            )
    if problems:
        raise ConfigError(problems)
    return settings


def _override(model: _M, keys: list[str], value: object) -> _M:
    """``model`` with the value at ``keys`` replaced, validated again (types coerced)."""
    head, *rest = keys
    new = value if not rest else _override(getattr(model, head), rest, value)
    return type(model).model_validate({**model.model_dump(), head: new})


# -- reading ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """One file: its name in the directory, its bytes (None: absent), its document."""

    name: str
    raw: bytes | None
    doc: YamlDocument


def _watchlist_names(root: Path) -> list[str]:
    folder = root / WATCHLISTS_DIR
    if not folder.is_dir():
        return []
    return sorted(f"{WATCHLISTS_DIR}/{p.name}" for p in folder.glob("*.yaml") if p.is_file())


def _load(root: Path, name: str, environ: Mapping[str, str], *, required: bool) -> _Source:
    path = root / name
    doc = YamlDocument(str(path), data={})
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            doc.add((), "required file is missing")
        return _Source(name, None, doc)
    except OSError as exc:
        doc.add((), f"cannot read file: {exc.strerror}")
        return _Source(name, None, doc)
    return _Source(name, raw, _parse(raw, doc.file, environ))


def _parse(raw: bytes, file: str, environ: Mapping[str, str]) -> YamlDocument:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        doc = YamlDocument(file, data={})
        doc.add((), f"not UTF-8 text: {exc.reason}", raw[: exc.start].count(b"\n") + 1)
        return doc
    doc = parse_yaml(text, file)
    if not isinstance(doc.data, dict):
        if not doc.problems:
            doc.add((), "the top level must be a mapping of keys to values")
        doc.data = {}
    doc.data = _substitute(doc, doc.data, (), environ)
    return doc


# -- ${NAME} substitution -----------------------------------------------------


def _substitute(doc: YamlDocument, value: object, path: YamlPath, env: Mapping[str, str]) -> object:
    if isinstance(value, str):
        return _substitute_text(doc, value, path, env)
    if isinstance(value, dict):
        return {k: _substitute(doc, v, (*path, k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(doc, v, (*path, i), env) for i, v in enumerate(value)]
    return value


def _substitute_text(doc: YamlDocument, text: str, path: YamlPath, env: Mapping[str, str]) -> str:
    result = substitute(text, env)
    if result.replaced:
        doc.substituted.add(path)
    for problem in result.problems:
        _refuse(doc, path, problem)
    return result.text


def _refuse(doc: YamlDocument, path: YamlPath, message: str) -> None:
    doc.refused.add(path)
    doc.add(path, message)


# -- validation against the models --------------------------------------------


def _validate(model: type[_M], doc: YamlDocument) -> _M | None:
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for error in exc.errors():
            _report(model, doc, error)
        return None


def _report(model: type[BaseModel], doc: YamlDocument, error: ErrorDetails) -> None:
    path: YamlPath = tuple(error["loc"])
    if any(path[:end] in doc.refused for end in range(len(path) + 1)):
        return
    at = path[:-1] if error["type"] == "missing" else path
    message = _message(error, secret=path in doc.substituted)
    if error["type"] in _UNKNOWN_KEY:
        message += did_you_mean(model, path)
    doc.add(path, message, doc.line_of(at))


_UNKNOWN_KEY = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


_PLAIN_MESSAGES = {
    "extra_forbidden": "unknown key",
    "unexpected_keyword_argument": "unknown key",  # a pydantic dataclass (FeedConfig)
    "missing": "required key is missing",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}
_TYPE_MESSAGES = {
    "model_type": "must be a mapping of keys to values",
    "dataclass_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_pattern_mismatch": "must start with a letter or digit and use only "
    "letters, digits, '_', '.' and '-'",
}


def _message(error: ErrorDetails, *, secret: bool) -> str:
    kind = error["type"]
    if kind in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[kind]
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    text = _TYPE_MESSAGES.get(kind) or error["msg"].replace("Input should be", "must be")
    value = error.get("input")
    if secret or isinstance(value, dict | list):
        return text
    return f"{text}, not {value!r}"


# -- assembling -----------------------------------------------------------------


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: p.line or 0)


def _merge(files: list[WatchlistFile]) -> Watchlists:
    return Watchlists(
        entities=tuple(e for f in files for e in f.entities),
        events=tuple(e for f in files for e in f.events),
        topics=tuple(t for f in files for t in f.topics),
        subscriptions=tuple(s for f in files for s in f.subscriptions),
    )


def _version(sources: list[_Source]) -> str:
    """sha256 over each present file's name and bytes, in reading order."""
    digest = hashlib.sha256()
    for src in sources:
        if src.raw is not None:
            digest.update(f"{src.name}\0{len(src.raw)}\0".encode())
            digest.update(src.raw)
    return digest.hexdigest()
