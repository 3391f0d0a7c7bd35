"""Who may see the page and the API: anyone on loopback; elsewhere, a bearer token.

The probes (/healthz, /readyz, /metrics) and the WebSub callback (the hub
cannot carry our token; pushes are checked by their signature) stay open.
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from service.errors import NewswatchError

GUARDED_PREFIXES = ("/api/", "/status")
GUARDED_PATHS = ("/", "/api")


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_access(host: str, token: str | None) -> None:
    """Refuse to serve the page and the API beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise NewswatchError(
            f"web.host is {host}, not a loopback address: the status page and the API need "
            "a bearer token (set NEWSWATCH_WEB_TOKEN, or web.token: ${NEWSWATCH_WEB_TOKEN}), "
            "or bind web.host: 127.0.0.1"
        )


def guarded(path: str) -> bool:
    return path in GUARDED_PATHS or path.startswith(GUARDED_PREFIXES)


def authorised(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def token_middleware(token: str | None) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and guarded(request.path) and not authorised(
                request.headers.get("Authorization"), token):
            return web.json_response(
                {"error": "unauthorized: send Authorization: Bearer <token>"}, status=401,
                headers={"WWW-Authenticate": 'Bearer realm="newswatch"'})
        return await handler(request)

    return check
