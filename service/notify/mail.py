"""Email with both parts ours: the HTML and the plain-text alternative we rendered.

apprise's email plugin sends the HTML we give it and derives the text part
by converting that HTML. The issue asks for both parts from our templates
(``alert.email.html`` and ``alert.email.txt``), so this subclass of apprise's
``NotifyEmail`` keeps everything apprise parses from a ``mailto://`` or
``mailtos://`` URL (server, port, TLS mode, login, from/to/cc/bcc/reply-to,
extra headers, provider defaults) and its SMTP connection handling
(``AppriseSMTPController``), and builds the message with the standard
library's ``email`` package as ``multipart/alternative``. Its header policy
refuses CR or LF in any header value, on top of the cleaning the renderer
already does, so a title cannot inject headers. Nothing is registered with
apprise: ``channels`` builds this object for plain SMTP URLs; PGP URLs keep
apprise's own plugin (signing covers a message apprise builds).

One SMTP connection per channel is kept open between messages (apprise's
plugin opens one per message: TLS context, connect, EHLO, login and QUIT
were most of an email's CPU), for at most ``IDLE_FOR`` without a message
(servers drop idle clients after a few minutes; RFC 5321 §4.5.3.2 lets
them after 5). A kept connection is tried with NOOP before a message
goes over it; one the server dropped is replaced before anything of the
message was sent, so a reconnect never sends a message twice. A message
that fails on its way (after MAIL FROM) is reported failed, never retried
here, and its connection closed; the outbox retries it with backoff.

apprise sends one message per To address (Cc and Bcc on each). The result
says which (To, envelope recipient) pairs the server accepted (SMTP refuses
recipients one by one: ``sendmail`` returns the refused ones, or raises when
it refused them all, and the other To addresses are still tried), and the
outbox records them, so a retry after a refusal goes only to the recipients
that did not get it (``skip``).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from apprise.exception import AppriseImproperlyConfigured
from apprise.plugins.email import NotifyEmail
from apprise.plugins.email.base import PGP_MODE_DEFAULT
from apprise.plugins.email.smtp import AppriseSMTPController

IDLE_FOR = 60.0  # seconds a kept SMTP connection may wait for its next message
Accepted = tuple[str, str]  # (To address, envelope recipient: that To, or a Cc or Bcc)
_FAILURES = (OSError, smtplib.SMTPException, RuntimeError, ValueError,
             AppriseImproperlyConfigured)
_OURS = frozenset({"subject", "from", "to", "cc", "bcc", "reply-to", "message-id", "date",
                   "mime-version", "content-type", "content-transfer-encoding"})


@dataclass(frozen=True, slots=True)
class MailResult:
    """One email to a channel's recipients: all took it, and which did."""

    ok: bool
    accepted: frozenset[Accepted] = frozenset()
    connection_ok: bool = True  # False: closed, not kept for the next message
    reason: str | None = None  # why not all took it (no login or address in it)


class MultipartEmail(NotifyEmail):  # type: ignore[no-untyped-call]
    """apprise's SMTP email, sending our own text and HTML parts over a kept connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.clock: Callable[[], float] = time.monotonic
        self.connections = 0  # opened so far (for tests and benchmarks)
        self._kept: Any = None  # an open AppriseSMTPController, or None
        self._used_at = 0.0  # on ``clock``: the kept connection's last message
        self._lock = threading.Lock()  # one message at a time over the connection
        self._finalizer: weakref.finalize[Any, Any] | None = None  # closes a dropped plugin's

    def send_alternative(self, title: str, text: str, html: str,
                         skip: frozenset[Accepted] = frozenset()) -> MailResult:
        """Send ``text`` and ``html`` as alternatives to every recipient but those in
        ``skip`` (they took it before); ok when all the others took it too."""
        me: Any = self  # apprise's attributes are untyped
        if not me.targets:
            return MailResult(False, reason="no recipient address")
        subject = " ".join(title.split())  # one header line (RFC 5322 §2.2.3)
        me.throttle()
        with self._lock:
            try:
                smtp = self._connection()
            except _FAILURES as e:
                return MailResult(False, reason=smtp_reason(e))
            result = self._send_each(smtp, subject, text, html, skip)
            if result.connection_ok:
                self._used_at = self.clock()
            else:
                self._close()
            return result

    def _send_each(self, smtp: Any, subject: str, text: str, html: str,
                   skip: frozenset[Accepted]) -> MailResult:
        """One message per To address (as apprise sends them), Cc and Bcc on each;
        which envelope recipients accepted it."""
        me: Any = self
        accepted: set[Accepted] = set()
        ok = True
        reason: str | None = None
        for to_name, to_addr in me.targets:
            recipients = [r for r in (to_addr, *sorted(me.cc - {to_addr}),
                                      *sorted(me.bcc - {to_addr})) if (to_addr, r) not in skip]
            if not recipients:
                continue
            try:
                message = self._message(subject, text, html, to_name, to_addr)
                refused = smtp.sendmail(me.from_addr[1], recipients, message)
            except smtplib.SMTPRecipientsRefused as e:  # none took it; smtplib reset the session
                ok, reason = False, smtp_reason(e)
                continue
            except _FAILURES as e:  # on its way: not retried here (it may have arrived)
                return MailResult(False, frozenset(accepted), connection_ok=False,
                                  reason=smtp_reason(e))
            accepted.update((to_addr, r) for r in recipients if r not in refused)
            if refused:
                ok, reason = False, _refused(refused)
        return MailResult(ok, frozenset(accepted), reason=reason)

    def close_idle(self) -> None:
        """Close the kept connection if it waited longer than ``IDLE_FOR``."""
        with self._lock:
            if self._kept is not None and self.clock() - self._used_at > IDLE_FOR:
                self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connection(self) -> Any:
        """The kept connection if it is fresh and answers NOOP, else a new one (nothing
        of the message has gone out yet either way)."""
        if self._kept is not None:
            if self.clock() - self._used_at <= IDLE_FOR and self._answers():
                return self._kept._socket
            self._close()
        me: Any = self
        controller = AppriseSMTPController(
            host=me.smtp_host, port=me.port, secure_mode=me.secure_mode,
            user=me.user, password=me.password,
            verify_certificate=me.verify_certificate,
            socket_connect_timeout=me.socket_connect_timeout,
        )
        controller.__enter__()  # connect, TLS, login; closes itself if any of it fails
        self._kept, self.connections = controller, self.connections + 1
        smtp: Any = controller._socket
        # a channel dropped (a reload, the end of a test) closes its socket, no QUIT
        self._finalizer = weakref.finalize(self, smtp.close)
        # apprise's controller keeps its smtplib.SMTP here and only offers a sendmail
        # that swallows exceptions; ours must tell a failed message from a dead socket
        return smtp

    def _answers(self) -> bool:
        try:
            code, _ = self._kept._socket.noop()
        except _FAILURES:
            return False
        return bool(code == 250)

    def _close(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._kept is not None:
            with contextlib.suppress(*_FAILURES):
                self._kept.__exit__(None, None, None)  # QUIT
            with contextlib.suppress(*_FAILURES):
                self._kept._socket.close()
            self._kept = None

    def _message(self, subject: str, text: str, html: str, to_name: Any, to_addr: str) -> bytes:
        me: Any = self
        # CRLF line ends as on the wire; a header value with CR or LF raises ValueError
        message = EmailMessage(policy=SMTP)
        headers = {"X-Application": me.app_id, **me.headers,
                   **me._protocol_headers(html)}
        for name, value in headers.items():
            if name.lower() not in _OURS:
                message[name] = value
        message["Subject"] = subject
        message["From"] = formataddr(tuple(me.from_addr), charset="utf-8")
        message["To"] = formataddr((to_name or "", to_addr), charset="utf-8")
        cc = sorted(me.cc - me.bcc - {to_addr})
        if cc:
            message["Cc"] = ", ".join(
                formataddr((me.names.get(a) or "", a), charset="utf-8") for a in cc)
        reply_to = sorted(me.reply_to - {to_addr})
        if reply_to:
            message["Reply-To"] = ", ".join(
                formataddr((me.names.get(a) or "", a), charset="utf-8") for a in reply_to)
        domain = me.smtp_host or str(me.from_addr[1]).split("@")[-1]
        message["Message-ID"] = make_msgid(domain=domain)
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message.as_bytes()


def smtp_reason(error: BaseException) -> str:
    """Why an SMTP exchange failed, for ops: the server's code and words, or the
    socket's trouble (never the login, which only the client knows)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _refused(error.recipients)
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"SMTP {error.smtp_code} {_one_line(words)}"
    if isinstance(error, smtplib.SMTPException | AppriseImproperlyConfigured):
        return _one_line(str(error)) or type(error).__name__
    for kinds, words in _SOCKET_TROUBLE:
        if isinstance(error, kinds):
            return words
    if isinstance(error, OSError) and error.strerror:
        return _one_line(error.strerror)
    return type(error).__name__


_SOCKET_TROUBLE: tuple[tuple[type[BaseException], str], ...] = (
    (socket.gaierror, "host name not found"),
    (ConnectionRefusedError, "connection refused"),
    (TimeoutError, "timed out"),
    (ssl.SSLError, "TLS handshake failed"),
)


def _refused(recipients: dict[str, tuple[int, bytes]]) -> str:
    codes = sorted({str(code) for code, _ in recipients.values()})
    return f"recipients refused (SMTP {', '.join(codes)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def multipart(plugin: Any, url: str) -> Any:
    """``url``'s plain SMTP email as a ``MultipartEmail``; any other plugin unchanged."""
    if type(plugin) is not NotifyEmail or plugin.pgp_mode != PGP_MODE_DEFAULT:
        return plugin
    return MultipartEmail(**MultipartEmail.parse_url(url))  # type: ignore[no-untyped-call]
