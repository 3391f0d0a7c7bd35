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
"""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from apprise.exception import AppriseImproperlyConfigured
from apprise.plugins.email import NotifyEmail
from apprise.plugins.email.base import PGP_MODE_DEFAULT
from apprise.plugins.email.smtp import AppriseSMTPController

_OURS = frozenset({"subject", "from", "to", "cc", "bcc", "reply-to", "message-id", "date",
                   "mime-version", "content-type", "content-transfer-encoding"})


class MultipartEmail(NotifyEmail):  # type: ignore[no-untyped-call]
    """apprise's SMTP email, sending our own text and HTML parts."""

    def send_alternative(self, title: str, text: str, html: str) -> bool:
        """Send ``text`` and ``html`` as alternatives to every recipient; True if all took it."""
        me: Any = self  # apprise's attributes are untyped
        if not me.targets:
            return False
        subject = " ".join(title.split())  # one header line (RFC 5322 §2.2.3)
        me.throttle()
        try:
            with AppriseSMTPController(
                host=me.smtp_host, port=me.port, secure_mode=me.secure_mode,
                user=me.user, password=me.password,
                verify_certificate=me.verify_certificate,
                socket_connect_timeout=me.socket_connect_timeout,
            ) as controller:
                smtp: Any = controller
                ok = True
                for to_name, to_addr in me.targets:
                    message = self._message(subject, text, html, to_name, to_addr)
                    recipients = [to_addr, *sorted(me.cc - {to_addr}),
                                  *sorted(me.bcc - {to_addr})]
                    ok &= bool(smtp.sendmail(me.from_addr[1], recipients, message))
                return ok
        except (OSError, smtplib.SMTPException, RuntimeError, ValueError,
                AppriseImproperlyConfigured):
            return False

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


def multipart(plugin: Any, url: str) -> Any:
    """``url``'s plain SMTP email as a ``MultipartEmail``; any other plugin unchanged."""
    if type(plugin) is not NotifyEmail or plugin.pgp_mode != PGP_MODE_DEFAULT:
        return plugin
    return MultipartEmail(**MultipartEmail.parse_url(url))  # type: ignore[no-untyped-call]
