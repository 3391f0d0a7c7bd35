"""Canonical URLs: tracking noise removed, meaning kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.urls import canonical_url, is_http_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM/a", "https://www.example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?utm_source=x&utm_medium=rss&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=abc&gclid=def&p=1", "https://example.com/a?p=1"),
        # the campaign tags BBC, Le Monde, France 24 and RFI put on every RSS link
        ("https://www.bbc.com/russian/articles/c1?at_medium=RSS&at_campaign=rss",
         "https://www.bbc.com/russian/articles/c1"),
        ("https://www.lemonde.fr/international/article/a.html?xtor=RSS-3208",
         "https://www.lemonde.fr/international/article/a.html"),
        ("https://www.bbc.co.uk/news/1?ns_mchannel=social&ns_source=twitter&page=2",
         "https://www.bbc.co.uk/news/1?page=2"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/Path/Case", "https://example.com/Path/Case"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "/relative", "ftp://x/y"])
def test_only_http_urls_are_canonicalised(url: str) -> None:
    assert not is_http_url(url)
    with pytest.raises(ValueError, match="not an http"):
        canonical_url(url)


@given(
    path=st.from_regex(r"/[a-z0-9/]{0,20}", fullmatch=True),
    tracking=st.lists(st.sampled_from(["utm_source", "utm_campaign", "fbclid", "gclid"])),
)
def test_tracking_parameters_never_change_the_canonical_form(
    path: str, tracking: list[str]
) -> None:
    plain = f"https://news.example.org{path}?id=1"
    noisy = plain + "".join(f"&{name}=v{i}" for i, name in enumerate(tracking)) + "#top"
    assert canonical_url(noisy) == canonical_url(plain)
    assert canonical_url(canonical_url(plain)) == canonical_url(plain)
