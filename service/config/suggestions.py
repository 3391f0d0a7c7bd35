"""The key an ops engineer probably meant: "unknown key (did you mean 'aliases'?)".

A misspelt key is the commonest configuration mistake, and "unknown key"
alone sends the reader to the documentation. The keys allowed at the spot
come from the models' JSON schema rather than from walking pydantic's
types by hand: the schema already resolves nested models, the pydantic
dataclass of a feed, lists, tuples and optional values.
"""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any

from pydantic import BaseModel

from service.config.yaml_lines import YamlPath


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> list[dict[str, Any]]:
    """The concrete schemas ``node`` stands for (a reference followed, each choice of a union)."""
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return _resolve(definitions.get(name, {}), definitions)
    choices = node.get("anyOf") or node.get("oneOf") or node.get("allOf")
    if choices:
        return [found for choice in choices for found in _resolve(choice, definitions)]
    return [node]


def allowed_keys(model: type[BaseModel], mapping_path: YamlPath) -> list[str]:
    """The keys the mapping at ``mapping_path`` of a ``model`` document may hold."""
    root = _schema(model)
    definitions: dict[str, Any] = root.get("$defs", {})
    nodes = [root]
    for step in mapping_path:
        following: list[dict[str, Any]] = []
        for node in nodes:
            for concrete in _resolve(node, definitions):
                if isinstance(step, int):
                    items = concrete.get("items") or concrete.get("prefixItems")
                    if isinstance(items, dict):
                        following.append(items)
                    elif isinstance(items, list):
                        following.extend(items)
                elif step in (properties := concrete.get("properties") or {}):
                    following.append(properties[step])
        nodes = following
    keys: list[str] = []
    for node in nodes:
        for concrete in _resolve(node, definitions):
            for key in concrete.get("properties", {}):
                if key not in keys:
                    keys.append(key)
    return keys


def did_you_mean(model: type[BaseModel], path: YamlPath) -> str:
    """`` (did you mean 'x'?)`` for the unknown key at the end of ``path``, or ``""``."""
    if not path or not isinstance(path[-1], str):
        return ""
    close = difflib.get_close_matches(path[-1], allowed_keys(model, path[:-1]), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
