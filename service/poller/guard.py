"""The private-address guard: feeds must not make us reach inside our network.

A feed URL is untrusted input. Without this guard, a feed (or a redirect it
answers with) could point the poller at ``127.0.0.1``, the cloud metadata
endpoint ``169.254.169.254`` or a LAN service. The guard is checked where the
address becomes known:

- for host names, inside the resolver aiohttp calls before it connects
  (:class:`GuardedResolver`), so DNS answers are checked at connect time;
- for IP literals, which aiohttp never resolves, by :func:`check_url_host`,
  which the fetcher calls for every URL it requests (also after redirects).

Refusal raises ``FetchError("refused-private", ...)``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from service.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_PART = r"(?:0[xX][0-9a-fA-F]+|[0-9]+)"
_LEGACY_IPV4 = re.compile(rf"{_PART}(?:\.{_PART}){{0,3}}")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 or ip in _NAT64:  # ::a.b.c.d (deprecated "compatible")
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_special(ip: IPAddress) -> bool:
    """True for every address that is not a plain public unicast address."""
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


def is_refused_address(ip: IPAddress) -> bool:
    """True when connecting to ``ip`` must be refused (unless private is allowed)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and _is_special(embedded):
            return True
    return _is_special(ip)


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is an IP literal (brackets allowed), else None.

    The legacy IPv4 spellings that ``inet_aton`` and many resolvers accept
    (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``) count as
    literals too, so they are judged by the address they stand for.
    """
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if not _LEGACY_IPV4.fullmatch(bare):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def check_url_host(url: str, allow_private: bool) -> None:
    """Refuse ``url`` when its host is an IP literal in a refused range.

    Host names are not resolved here: :class:`GuardedResolver` checks them when
    aiohttp connects, so the address checked is the address used.
    """
    if allow_private:
        return
    ip = parse_ip(urlsplit(url).hostname or "")
    if ip is not None and is_refused_address(ip):
        raise FetchError("refused-private", f"refused private address: {url}")


class GuardedResolver(AbstractResolver):
    """A resolver that drops refused addresses from another resolver's answer.

    ``allowed_hosts`` names hosts that bypass the guard (a trusted internal feed
    host). When every address of a host is refused, resolution fails with
    ``FetchError("refused-private")``; when only some are, the public ones are
    used.
    """

    def __init__(
        self,
        inner: AbstractResolver | None = None,
        *,
        allowed_hosts: Collection[str] = (),
    ) -> None:
        self._inner = inner if inner is not None else DefaultResolver()
        self._allowed = frozenset(h.lower().rstrip(".") for h in allowed_hosts)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if host.lower().rstrip(".") in self._allowed:
            return results
        kept = [r for r in results if not _refused_result(r)]
        if results and not kept:
            raise FetchError("refused-private", f"refused private address for host {host}")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _refused_result(result: ResolveResult) -> bool:
    ip = parse_ip(result["host"].split("%", 1)[0])
    return ip is None or is_refused_address(ip)
