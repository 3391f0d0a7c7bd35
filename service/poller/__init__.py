"""The poller: fetch a feed safely, then parse it into plain-text entries.

``fetch`` is the I/O edge (aiohttp, limits, the private-address guard);
``parse`` is pure and can run in a process pool.

The names below are imported on first use (PEP 562), not with the package: a
spawned parse worker imports ``service.poller.fastparse`` and so this package,
and should get the parser alone, not aiohttp, the configuration models and
numpy that ``fetch`` brings (~0.5 s of CPU and ~30 MB per worker).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.poller.fetch import FetchResult, check_url, fetch_feed, make_session
    from service.poller.guard import GuardedResolver, check_url_host, is_refused_address
    from service.poller.parse import parse_feed, to_text

_HOMES = {
    "FetchResult": "fetch", "check_url": "fetch", "fetch_feed": "fetch", "make_session": "fetch",
    "GuardedResolver": "guard", "check_url_host": "guard", "is_refused_address": "guard",
    "parse_feed": "parse", "to_text": "parse",
}

__all__ = [
    "FetchResult",
    "GuardedResolver",
    "check_url",
    "check_url_host",
    "fetch_feed",
    "is_refused_address",
    "make_session",
    "parse_feed",
    "to_text",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
