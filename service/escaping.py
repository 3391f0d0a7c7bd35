"""Per-channel escaping of untrusted feed text, and fitting a body to a limit.

Feed titles, sentences, outlet names and links come from strangers. Each
channel reads a different markup, so each gets its own escaper:

    text       control characters removed, nothing else means anything
    markdown   CommonMark punctuation backslash-escaped (no links, no HTML)
    slack      what apprise's CommonMark-to-mrkdwn converter turns into text:
               ``<`` and ``>`` escaped (so no ``<!channel>``, ``<@U…>``,
               ``<url|label>``), mrkdwn's ``* _ ~ ` `` replaced by look-alikes
    html       left to Jinja's autoescape (``service.rendering``)

Links are only ever http(s); anything else is dropped, not linked.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
# Slack mrkdwn has no escape character: its control characters become look-alikes.
_SLACK_LOOKALIKES = str.maketrans({
    "*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ", "\\": "∖", "|": "∣",
})
_SLACK_ESCAPED = re.compile(r"([<>\[\]])")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%-._~"  # RFC 3986 characters kept as they are


def one_line(text: str) -> str:
    """No control or bidi-override characters, runs of white space made one space."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text))


def clean(text: str) -> str:
    """One line of untrusted text, trimmed (see ``one_line``)."""
    return one_line(text).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def escape_text(text: str) -> str:
    return one_line(text)


def escape_markdown(text: str) -> str:
    """CommonMark: every character that could start markup is backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def escape_slack(text: str) -> str:
    """Slack (via apprise's CommonMark converter): inert text, no tokens, no formatting."""
    return _SLACK_ESCAPED.sub(r"\\\1", one_line(text).translate(_SLACK_LOOKALIKES))


def http_url(url: str | None) -> str | None:
    """``url`` made safe to put in a link (percent-encoded), or None unless http(s)."""
    if not url:
        return None
    url = clean(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE)


def fit(body: str, limit: int, mark: str) -> str:
    """``body`` within ``limit`` characters, cut at a line boundary and ended by ``mark``.

    Templates put one construct per line, so cutting between lines never
    leaves half an escape or an open tag; a single overlong line is cut
    inside (without leaving a dangling backslash).
    """
    if len(body) <= limit:
        return body
    budget = max(limit - len(mark) - 1, 0)
    kept: list[str] = []
    used = 0
    for line in body.split("\n"):
        if used + len(line) + 1 > budget:
            if not kept:
                kept.append(line[:budget].rstrip("\\ "))
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join([*kept, mark])[:limit]
