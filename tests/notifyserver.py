"""Local endpoints that receive alerts for real: an SMTP server and a scripted json:// endpoint.

``SmtpInbox`` is aiosmtpd on a free loopback port; ``JsonEndpoint`` answers
apprise's ``json://`` posts with scripted statuses (e.g. 500, 500, 500, then
200) on a ``FeedServer``. Both record what arrived and let a test wait on
a condition instead of sleeping.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.feedserver import FeedServer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _CountingController(Controller):
    """aiosmtpd's controller, counting the connections its server accepts."""

    def __init__(self, inbox: SmtpInbox, **kwargs: Any) -> None:
        super().__init__(inbox, **kwargs)
        self._inbox = inbox

    def factory(self) -> SMTP:
        inbox = self._inbox

        class Counting(SMTP):
            def connection_made(self, transport: Any) -> None:
                with inbox._lock:
                    inbox.connections += 1
                    inbox._transports.append(transport)
                super().connection_made(transport)

        return Counting(self.handler, **self.SMTP_kwargs)


class SmtpInbox:
    """A real SMTP server on loopback; every message is parsed and kept.

    ``connections`` counts the SMTP connections clients opened.

    ``tls``: None (plain), ``"starttls"`` (STARTTLS required) or ``"ssl"``
    (implicit TLS), with a throwaway self-signed certificate from ``certificate``.
    """

    def __init__(self, tls: str | None = None, certificate: tuple[str, str] | None = None
                 ) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.encrypted: list[bool] = []  # per message: did it arrive over TLS
        self.connections = 0
        self.refuse_once: set[str] = set()  # recipients refused (550) at their next RCPT
        self._transports: list[Any] = []  # server ends of client connections
        self._lock = threading.Condition()
        self.port = _free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            assert certificate is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certificate)
            options = ({"tls_context": context, "require_starttls": True} if tls == "starttls"
                       else {"ssl_context": context})
        self._controller = _CountingController(self, hostname="127.0.0.1", port=self.port,
                                               **options)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # one line per connection

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self._lock:
            if address in self.refuse_once:
                self.refuse_once.discard(address)
                return "550 5.1.1 mailbox unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
            self._lock.notify_all()
        return "250 OK"

    def url(self, to: str = "desk@example.org") -> str:
        return (f"mailto://127.0.0.1:{self.port}?mode=insecure&from=newswatch@example.org"
                f"&to={to}")

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        with self._lock:
            self._lock.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def __enter__(self) -> SmtpInbox:
        self._controller.start()
        with self._lock:
            self.connections = 0  # not the controller's own probe at start
        return self

    def hang_up(self) -> None:
        """Drop every client connection, as a server does with idle clients."""
        async def abort() -> None:
            with self._lock:
                transports, self._transports = self._transports, []
            for transport in transports:
                transport.abort()  # at once, TLS too (no close_notify exchange)

        asyncio.run_coroutine_threadsafe(abort(), self._controller.loop).result(10)

    def __exit__(self, *exc_info: object) -> None:
        # a client may keep its connection open (newswatch does): the server hangs up
        # first, as a real one shutting down does, so no transport is left unclosed
        self.hang_up()
        self._controller.stop()


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 (openssl), as (certificate, key) paths."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


class JsonEndpoint:
    """An apprise ``json://`` endpoint answering scripted statuses, then 200."""

    def __init__(self, server: FeedServer, path: str = "/notify",
                 statuses: list[int] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.headers = headers or {}
        self.received: list[dict[str, Any]] = []  # accepted posts only
        self.attempts = 0
        self._arrived = threading.Condition()
        self.transports: list[Any] = []  # each connection once, held so ids stay unique
        server.add(path, self._handle)
        self.apprise_url = f"json://127.0.0.1:{server.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        payload = json.loads(await request.text())
        self.attempts += 1
        if not any(t is request.transport for t in self.transports):
            self.transports.append(request.transport)
        if self.statuses:
            return web.Response(status=self.statuses.pop(0), headers=self.headers)
        with self._arrived:
            self.received.append(payload)
            self._arrived.notify_all()
        return web.Response(text="ok")

    def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Block until at least ``count`` posts were accepted (or the timeout passed)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    @property
    def connections(self) -> int:
        """How many TCP connections the posts came over."""
        return len(self.transports)

    def titles(self) -> list[str]:
        return [str(p["title"]) for p in self.received]


def parts(message: EmailMessage) -> Iterator[tuple[str, str]]:
    """(content type, decoded text) of every text part of a message."""
    for part in message.walk():
        if part.get_content_maintype() == "text":
            yield part.get_content_type(), str(part.get_content())


def store_alerts(
    database: Any, subscriptions: list[str], count: int, now: Any, title: str = "Story"
) -> None:
    """``count`` processed articles (one story each) alerting every subscription listed."""
    from service.config.models import FeedConfig
    from service.domain import Classification, Evidence, FeedEntry, Match
    from service.storage import ArticleStore, FeedStore

    url = "https://wire.example/feed"
    feed_id = FeedStore(database).sync([FeedConfig(url=url, name="Wire")], now)[url].id
    articles = ArticleStore(database)
    entries = [
        FeedEntry(guid=f"g{i}-{now.timestamp()}", url=f"https://wire.example/{i}-{now.timestamp()}",
                  title=f"{title} {i}", summary="Aliyev pardoned Théo Clerc.", content="",
                  published=now)
        for i in range(count)
    ]
    evidence = Evidence("summary", "Aliyev pardoned Théo Clerc.", ((0, 6),))
    classification = Classification((Match("entity", "ilham-aliyev", "Ilham Aliyev",
                                           (evidence,)),))
    for article_id in articles.add_entries(feed_id, entries, now):
        assert articles.begin_attempt(article_id) is not None
        articles.commit_processed(article_id, story_keys=[f"id:{article_id}-{now}"],
                                  classification=classification,
                                  subscription_ids=subscriptions, now=now)
