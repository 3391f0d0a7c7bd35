"""The poller: fetch a feed safely, then parse it into plain-text entries.

``fetch`` is the I/O edge (aiohttp, limits, the private-address guard);
``parse`` is pure and can run in a process pool.
"""

from service.poller.fetch import FetchResult, check_url, fetch_feed, make_session
from service.poller.guard import GuardedResolver, check_url_host, is_refused_address
from service.poller.parse import parse_feed, to_text

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
