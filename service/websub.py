"""WebSub push: feeds that advertise a hub are pushed to us instead of polled often.

    poll parses a feed with <link rel="hub"> ─► advertised() (remembered)
    subscribe loop (websub.callback_url set):
        new advert, or a lease ending within websub.renew_before
        ─► row written (request outstanding) ─► POST hub.mode=subscribe to the hub
    hub ─► GET  /websub/callback/{id}?hub.mode=subscribe&hub.challenge=...
        echoed only when a request for that topic is outstanding; lease recorded
    hub ─► POST /websub/callback/{id}   (X-Hub-Signature: sha256=<HMAC of the body>)
        valid signature ─► parse, store, dispatch: like a poll's body
        missing or bad  ─► ignored, answered 202 all the same (WebSub §8: a
                           subscriber must not tell a forger whether it guessed)
    a feed with an active subscription is polled at most every websub.poll_interval

The signature check and the renewal decision are pure functions; the rest is
the edge (HTTP both ways, storage).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog
from aiohttp import web

from service.config.models import FetchSettings, WebSubSettings
from service.dispatch import Dispatcher
from service.domain import ParsedFeed
from service.errors import FetchError
from service.poller.fetch import make_session
from service.poller.guard import check_url_host
from service.poller.parse import parse_feed
from service.storage.articles import ArticleStore
from service.storage.records import FeedState
from service.storage.websub import WebSubStore, WebSubSubscription

log = structlog.get_logger("newswatch.websub")

SIGNATURE_METHODS = ("sha1", "sha256", "sha384", "sha512")
CALLBACK_PATH = "/websub/callback/{id}"
RETRY_AFTER = timedelta(hours=1)  # an unanswered or failed request is made again after this
CHECK_EVERY = timedelta(minutes=1)
HUB_TIMEOUT = aiohttp.ClientTimeout(total=30)


# --- pure ------------------------------------------------------------------------------


def signature_valid(secret: str, header: str | None, body: bytes) -> bool:
    """Whether ``X-Hub-Signature: method=hexdigest`` is the HMAC of ``body`` under ``secret``."""
    method, _, digest = (header or "").partition("=")
    if method.strip().lower() not in SIGNATURE_METHODS or not digest:
        return False
    expected = hmac.new(secret.encode(), body, method.strip().lower()).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def needs_request(sub: WebSubSubscription, now: datetime, renew_before: timedelta) -> bool:
    """Whether to (re)send a subscribe request for ``sub`` now."""
    if sub.requested_at is not None and now - sub.requested_at < RETRY_AFTER:
        return False  # waiting for the hub's verification
    if sub.state == "denied":
        return False  # a new hub or topic advertised makes a new request
    if sub.state == "active" and sub.lease_expires_at is not None:
        return renewal_due(sub, renew_before) <= now
    return True


def renewal_due(sub: WebSubSubscription, renew_before: timedelta) -> datetime:
    """When to renew an active lease: ``renew_before`` ahead of its end, or halfway
    through when the hub granted a lease shorter than twice that."""
    assert sub.lease_expires_at is not None
    margin = renew_before
    if sub.verified_at is not None:
        margin = min(margin, (sub.lease_expires_at - sub.verified_at) / 2)
    return sub.lease_expires_at - margin


def next_check(subs: list[WebSubSubscription], now: datetime, renew_before: timedelta) -> datetime:
    """The next renewal falling due, at most ``CHECK_EVERY`` away (renewals already
    due were made by this round, or are not wanted: never a busy loop)."""
    dues = [renewal_due(s, renew_before) for s in subs
            if s.state == "active" and s.lease_expires_at is not None and s.requested_at is None]
    return min([now + CHECK_EVERY, *(due for due in dues if due > now)])


def callback_url(base: str, subscription_id: int) -> str:
    return f"{base.rstrip('/')}/{subscription_id}"


def subscribe_form(sub: WebSubSubscription, base: str, lease: timedelta) -> dict[str, str]:
    return {
        "hub.mode": "subscribe", "hub.topic": sub.topic,
        "hub.callback": callback_url(base, sub.id), "hub.secret": sub.secret,
        "hub.lease_seconds": str(int(lease.total_seconds())),
    }


@dataclass(frozen=True, slots=True)
class Advert:
    """A feed's hub, as its last parse announced it."""

    feed_id: int
    feed_url: str
    hub: str
    topic: str


# --- the edge ------------------------------------------------------------------------------


class WebSub:
    """Subscriptions, renewals and the callback endpoint of one `newswatch run`."""

    def __init__(
        self, settings: WebSubSettings, fetch: FetchSettings, store: WebSubStore,
        articles: ArticleStore, dispatcher: Dispatcher, now: Callable[[], datetime],
        configured: Callable[[], Collection[str]] | None = None,
    ) -> None:
        """``configured``: the feed URLs configured now (a removed feed is not renewed)."""
        self._configured = configured
        self.settings, self._fetch = settings, fetch
        self.store, self._articles, self._dispatcher, self._now = store, articles, dispatcher, now
        self._adverts: dict[int, Advert] = {}
        self._fed: set[str] = set()  # feed URLs with an active subscription
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.settings.callback_url is not None

    def advertised(self, state: FeedState, parsed: ParsedFeed) -> None:
        """Poll hook: remember the hub a freshly parsed feed names (called in the loop)."""
        if not self.enabled or parsed.hub is None:
            return
        advert = Advert(state.id, state.url, parsed.hub, parsed.self_url or state.target)
        if self._adverts.get(state.id) != advert:
            self._adverts[state.id] = advert
            self._wake.set()

    def poll_due(self, url: str, due: datetime, now: datetime) -> datetime:
        """When to poll ``url`` next: a hub-fed feed at most every websub.poll_interval."""
        return max(due, now + self.settings.poll_interval) if url in self._fed else due

    # --- subscribing -----------------------------------------------------------------

    async def run_until(self, stop: asyncio.Event) -> None:
        """Subscribe to advertised hubs and renew leases until stopped."""
        if not self.enabled:
            return
        while not stop.is_set():
            fetch = self._fetch
            async with make_session(fetch) as session:  # a new one when fetch.* is reloaded
                while not stop.is_set() and self._fetch is fetch:
                    self._wake.clear()
                    wake = await self.check(session)
                    timeout = max(0.0, (wake - self._now()).total_seconds())
                    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self._wake)]
                    await asyncio.wait(waiters, timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()

    def reconfigure(self, settings: WebSubSettings, fetch: FetchSettings) -> None:
        """A reloaded configuration: lease, renewal and poll interval apply at once,
        ``fetch.*`` to the hub requests made from now on (a new HTTP session) and
        to pushes received from now on. ``callback_url`` keeps its start-up value:
        turning WebSub on or off, or moving the callback, needs a restart."""
        self.settings = settings.model_copy(update={"callback_url": self.settings.callback_url})
        if fetch != self._fetch:
            self._fetch = fetch
        self._wake.set()

    async def check(self, session: aiohttp.ClientSession) -> datetime:
        """One round: request what needs requesting; refresh the hub-fed feed set;
        return when the next round is due."""
        now = self._now()
        subs = {s.feed_id: s for s in await asyncio.to_thread(self.store.all)}
        configured = self._configured() if self._configured is not None else None
        for advert in self._adverts.values():
            if configured is not None and advert.feed_url not in configured:
                continue  # removed from feeds.yaml by a reload
            sub = subs.get(advert.feed_id)
            moved = sub is None or (sub.hub, sub.topic) != (advert.hub, advert.topic)
            if moved or (sub is not None and needs_request(sub, now, self.settings.renew_before)):
                await self.subscribe(session, advert)
        for sub in subs.values():
            if configured is not None and sub.feed_url not in configured:
                continue  # removed from feeds.yaml: its lease runs out
            if advert_missing(self._adverts, sub) and needs_request(
                    sub, now, self.settings.renew_before):
                await self.subscribe(session, Advert(sub.feed_id, sub.feed_url, sub.hub,
                                                     sub.topic))
        current = await asyncio.to_thread(self.store.all)
        self._fed = {s.feed_url for s in current if s.state == "active"}
        return next_check(current, self._now(), self.settings.renew_before)

    async def subscribe(self, session: aiohttp.ClientSession, advert: Advert) -> None:
        sub = await asyncio.to_thread(self.store.request, advert.feed_id, advert.topic,
                                      advert.hub, secrets.token_hex(32), self._now())
        assert self.settings.callback_url is not None
        form = subscribe_form(sub, self.settings.callback_url, self.settings.lease)
        try:
            # The hub URL comes from feed content: the same address rules as a
            # fetch (IP literals here, host names in the session's resolver),
            # and no redirects, which would skip the IP-literal check.
            check_url_host(advert.hub, self._fetch.allow_private_addresses)
            async with session.post(advert.hub, data=form, timeout=HUB_TIMEOUT,
                                    allow_redirects=False) as response:
                answer = (await response.text())[:200]
                ok = 200 <= response.status < 300
                if 300 <= response.status < 400:
                    answer = f"hub answered {response.status} (redirects are not followed)"
        except FetchError as e:
            ok, answer = False, e.message
        except (aiohttp.ClientError, TimeoutError) as e:
            ok, answer = False, f"hub unreachable: {e or type(e).__name__}"
        if ok:
            log.info("websub subscription requested", feed=advert.feed_url, hub=advert.hub)
        else:
            log.warning("websub subscribe refused", feed=advert.feed_url, hub=advert.hub,
                        answer=answer)
            await asyncio.to_thread(self.store.failed, sub.id, f"subscribe: {answer}")

    # --- the callback endpoint ---------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(CALLBACK_PATH, self.verify)
        app.router.add_post(CALLBACK_PATH, self.push)

    async def _subscription(self, request: web.Request) -> WebSubSubscription:
        try:
            subscription_id = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        sub = await asyncio.to_thread(self.store.get, subscription_id)
        if sub is None:
            raise web.HTTPNotFound(text="no such subscription")
        return sub

    async def verify(self, request: web.Request) -> web.Response:
        """The hub's verification of intent (and its denial notices)."""
        sub = await self._subscription(request)
        query = request.query
        mode, topic = query.get("hub.mode"), query.get("hub.topic")
        if topic != sub.topic:
            raise web.HTTPNotFound(text="not our topic")
        if mode == "denied":
            await asyncio.to_thread(self.store.denied, sub.id, query.get("hub.reason") or "denied")
            log.warning("websub subscription denied", feed=sub.feed_url, hub=sub.hub)
            return web.Response(text="ok")
        if mode != "subscribe" or sub.requested_at is None or "hub.challenge" not in query:
            raise web.HTTPNotFound(text="no such request outstanding")
        lease = _lease(query.get("hub.lease_seconds"), self.settings.lease)
        now = self._now()
        await asyncio.to_thread(self.store.verified, sub.id, now, now + lease)
        self._fed.add(sub.feed_url)
        self._wake.set()  # the renewal is scheduled from the lease granted
        log.info("websub subscription verified", feed=sub.feed_url, lease=str(lease))
        return web.Response(text=query["hub.challenge"], content_type="text/plain")

    async def push(self, request: web.Request) -> web.Response:
        """Content distribution: a signed body is treated like a poll's body."""
        sub = await self._subscription(request)
        body = await request.content.read(self._fetch.max_bytes + 1)
        if len(body) > self._fetch.max_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self._fetch.max_bytes,
                                                actual_size=len(body))
        if not signature_valid(sub.secret, request.headers.get("X-Hub-Signature"), body):
            log.warning("websub push ignored: missing or bad signature", feed=sub.feed_url)
            return web.Response(status=202, text="accepted")
        try:
            parsed = await asyncio.to_thread(parse_feed, body, sub.feed_url,
                                             request.headers.get("Content-Type"))
        except FetchError as e:
            log.warning("websub push ignored: not a feed", feed=sub.feed_url, error=e.message)
            return web.Response(status=202, text="accepted")
        await self._store(sub, parsed)
        return web.Response(status=202, text="accepted")

    async def _store(self, sub: WebSubSubscription, parsed: ParsedFeed) -> None:
        now = self._now()
        new_ids = await asyncio.to_thread(self._articles.add_entries, sub.feed_id,
                                          parsed.entries, now)
        await asyncio.to_thread(self.store.pushed, sub.id, now)
        if new_ids:
            self._dispatcher.submit(new_ids)
        log.info("websub push stored", feed=sub.feed_url, entries=len(parsed.entries),
                 new=len(new_ids))


def advert_missing(adverts: dict[int, Advert], sub: WebSubSubscription) -> bool:
    return sub.feed_id not in adverts


def _lease(value: str | None, default: timedelta) -> timedelta:
    try:
        seconds = int(value) if value is not None else 0
    except ValueError:
        seconds = 0
    return timedelta(seconds=seconds) if seconds > 0 else default


def content_signature(secret: str, body: bytes, method: str = "sha256") -> str:
    """The ``X-Hub-Signature`` value a hub sends for ``body`` (for hubs and tests)."""
    return f"{method}={hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()}"
