"""Canonical URLs: one spelling per article link, so copies can be recognised.

Two links name the same article when they differ only in the case of scheme
or host, an explicit default port, the fragment, the order of query
parameters, or tracking parameters added by newsletters and social sites.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# at_ and xtor: AT Internet (Piano) campaign tags, which BBC, Le Monde, France 24 and RFI
# add to every RSS link (at_medium=RSS&at_campaign=..., xtor=RSS-3208), one value per
# feed, so one article has one link per feed it is in; ns_: BBC's older (comScore) tags.
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "_hs", "at_", "ns_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "mkt_tok", "oly_anon_id",
        "oly_enc_id", "vero_id", "wickedid", "rb_clickid", "s_cid", "ncid", "cmpid",
        "xtor", "ocid", "smid", "ref_src",
    }
)


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)


def canonical_url(url: str) -> str:
    """The canonical spelling of an http(s) URL (raises ValueError otherwise)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    if not parts.query:  # most article links: nothing to parse, sort or drop
        return urlunsplit((scheme, netloc, path, "", ""))
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_parameter(k)
    ]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query), doseq=True), ""))


def canonical_or_none(url: str | None) -> str | None:
    """The canonical URL, or None for a missing or non-http(s) link."""
    if url is None:
        return None
    try:
        return canonical_url(url)  # checks what is_http_url checks, parsing once
    except ValueError:
        return None


# Query parameters that carry a credential in private feeds' URLs (?token=, ?api_key=...).
_SECRET_PARAMETER = re.compile(
    r"(?i)(^|[_-])(token|key|apikey|secret|password|passwd|pass|pwd|auth|sig|signature|"
    r"session|sid|hash)$"
)


def shown_url(url: str) -> str:
    """``url`` as it may be shown where a feed has no name (alerts, logs, story outlets):
    the password of ``user:password@`` and the values of credential-like query
    parameters (``token``, ``api_key``, ``sig``...) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if password is not None:
        login, _, host = netloc.rpartition("@")
        netloc = f"{login.partition(':')[0]}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAMETER.search(name) for name, _ in pairs):
            query = "&".join(f"{name}={'***' if _SECRET_PARAMETER.search(name) else value}"
                             for name, value in pairs)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
