"""Webhooks that tell us what the server answered: Slack's, and json/form/xml://.

apprise's plugins call ``requests`` themselves and keep only "it failed":
a 429 or 503 with ``Retry-After`` is lost, so the outbox could only guess
how long to wait. These subclasses keep apprise's URL parsing, options,
validation, payloads (Slack's blocks and escaping included) and
privacy-redacted names; only the HTTP exchange goes through ``_exchange``
here, which records the status and the ``Retry-After`` header of a refused
send on the plugin object. For the generic webhooks that means building
the payload as apprise does (checked against apprise's own plugins in
tests/test_notify_webhooks.py); for Slack, apprise's ``_send`` is replaced
for incoming webhooks (bot mode and uploads keep apprise's). Discord keeps
its own exchange (it records the rate-limit reset itself) minus its
built-in retry. Each of these plugin objects (one per channel) keeps its
own ``requests.Session``, so HTTP keep-alive reuses one connection (and
its TLS handshake) for every alert of that channel instead of opening one
per alert. Nothing is registered with apprise and nothing global is
patched: ``channels`` builds these objects for those schemes only.
newswatch never sends attachments, so the generic webhooks do not support
them.
"""

from __future__ import annotations

import re
import threading
from http.cookiejar import DefaultCookiePolicy
from json import dumps
from typing import Any

import requests
from apprise import NotifyType
from apprise.plugins.custom_form import FORMPayloadField, NotifyForm
from apprise.plugins.custom_json import JSONPayloadField, NotifyJSON
from apprise.plugins.custom_xml import NotifyXML, XMLPayloadField
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.slack import NotifySlack, SlackMode


class KeepAlive:
    """One channel's HTTP connection, reused between its sends (keep-alive).

    The ``requests.Session`` is built at the first send and closed (the next
    send builds a new one) after a request that raised, so a broken or
    half-read connection is never reused. urllib3 does not retry a POST on
    a dropped connection (``max_retries`` 0), so nothing is sent twice: a
    send that met a connection the server had just closed fails and the
    outbox retries it. Cookies are not kept: as with one ``requests.request``
    per alert, a webhook's Set-Cookie never comes back with the next alert.
    The lock serialises sends through one plugin object:
    the runner calls the sender from ``asyncio.to_thread``, whose threads vary.
    """

    last_status: int | None = None  # the last answer's status (None: no answer)
    last_retry_after: str | None = None  # a refusal's Retry-After header, verbatim

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def exchange(self, method: str, url: str, **kwargs: Any) -> requests.Response | None:
        """One HTTP request over this channel's connection (None when no answer came)."""
        with self._session_lock:
            if self._session is None:
                self._session = requests.Session()
                self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            try:
                return self._session.request(method, url, **kwargs)
            except requests.RequestException:
                self._drop_session()
                return None


def _exchange(plugin: Any, method: str, url: str, **kwargs: Any) -> requests.Response | None:
    """One HTTP request as apprise makes it (None when no answer came); a refusal is recorded.

    ``plugin.last_status`` is the answer's status and ``plugin.last_retry_after``
    a non-2xx answer's Retry-After header, verbatim.
    """
    plugin.last_status = plugin.last_retry_after = None
    plugin.throttle()
    response: requests.Response | None = plugin.exchange(
        method, url, verify=plugin.verify_certificate, timeout=plugin.request_timeout,
        allow_redirects=plugin.redirects, **kwargs,
    )
    if response is None:
        return None
    plugin.last_status = response.status_code
    if not 200 <= response.status_code < 300:
        plugin.last_retry_after = response.headers.get("Retry-After")
    return response


def _request(plugin: Any, content_type: str | None, **kwargs: Any) -> bool:
    """A generic webhook's request to its URL, with its headers and login; True on 2xx."""
    url = f"{'https' if plugin.secure else 'http'}://{plugin.host}"
    if isinstance(plugin.port, int):
        url += f":{plugin.port}"
    headers = {"User-Agent": plugin.app_id}
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(plugin.headers)
    auth = (plugin.user, plugin.password or "") if plugin.user else None
    response = _exchange(plugin, plugin.method, url + (plugin.fullpath or ""),
                         headers=headers, auth=auth, **kwargs)
    return response is not None and 200 <= response.status_code < 300


class WebhookSlack(KeepAlive, NotifySlack):  # type: ignore[no-untyped-call]
    """apprise's Slack plugin; an incoming webhook's answer is recorded."""

    def _send(self, url: Any, payload: Any, attach: Any = None, http_method: Any = "post",
              params: Any = None, **kwargs: Any) -> Any:
        if attach or self.mode not in (SlackMode.WEBHOOK, SlackMode.WEBHOOK_GOV):
            return super()._send(url, payload, attach=attach, http_method=http_method,  # type: ignore[no-untyped-call]
                                 params=params, **kwargs)
        headers = {"User-Agent": self.app_id, "Accept": "application/json",
                   "Content-Type": "application/json; charset=utf-8"}
        response = _exchange(self, http_method, url, data=dumps(payload), headers=headers,
                             params=params or None)
        if response is None or response.status_code != 200 or response.content != b"ok":
            return False
        return {"ok": False}  # what apprise's _send returns for a webhook's plain "ok"


class OneTryDiscord(NotifyDiscord):  # type: ignore[no-untyped-call]
    """apprise's Discord plugin without its own retry after a 429.

    apprise's Discord retries once by itself, first sleeping until the
    rate limit resets: that blocks the sender and doubles the outbox's
    retries. Here a 429 fails at once; the reset apprise records
    (``ratelimit_reset``) becomes the outbox's wait (``channels``).
    """

    def _send(self, payload: Any, attach: Any = None, params: Any = None,
              rate_limit: int = 1, **kwargs: Any) -> bool:
        return bool(super()._send(payload, attach=attach, params=params, rate_limit=0, **kwargs))


class WebhookJSON(KeepAlive, NotifyJSON):  # type: ignore[no-untyped-call]
    attachment_support = False

    def send(self, body: Any, title: Any = "", notify_type: Any = NotifyType.INFO,
             attach: Any = None, **kwargs: Any) -> bool:
        payload: dict[str, Any] = {
            JSONPayloadField.VERSION: self.json_version, JSONPayloadField.TITLE: title,
            JSONPayloadField.MESSAGE: body, JSONPayloadField.ATTACHMENTS: [],
            JSONPayloadField.MESSAGETYPE: notify_type.value,
        }
        for key, value in self.payload_extras.items():  # apprise's remapping rules
            if key in payload:
                current = payload.pop(key)
                if value:
                    payload[value] = current
            else:
                payload[key] = value
        return _request(self, "application/json", data=dumps(payload), params=self.params)


class WebhookForm(KeepAlive, NotifyForm):  # type: ignore[no-untyped-call]
    attachment_support = False

    def send(self, body: Any, title: Any = "", notify_type: Any = NotifyType.INFO,
             attach: Any = None, **kwargs: Any) -> bool:
        payload: dict[str, Any] = {}
        for key, value in ((FORMPayloadField.VERSION, self.form_version),
                           (FORMPayloadField.TITLE, title), (FORMPayloadField.MESSAGE, body),
                           (FORMPayloadField.MESSAGETYPE, notify_type.value)):
            if self.payload_map[key]:
                payload[self.payload_map[key]] = value
        payload.update(self.payload_extras)
        if self.method == "GET":
            return _request(self, None, params={**payload, **self.params})
        return _request(self, None, data=payload, params=self.params)


class WebhookXML(KeepAlive, NotifyXML):  # type: ignore[no-untyped-call]
    attachment_support = False

    def send(self, body: Any, title: Any = "", notify_type: Any = NotifyType.INFO,
             attach: Any = None, **kwargs: Any) -> bool:
        fields: dict[str, str] = {}
        for key, value in ((XMLPayloadField.VERSION, self.xsd_ver),
                           (XMLPayloadField.TITLE, _xml(title)),
                           (XMLPayloadField.MESSAGE, _xml(body)),
                           (XMLPayloadField.MESSAGETYPE, _xml(notify_type.value))):
            if self.payload_map[key]:
                fields[self.payload_map[key]] = value
        fields.update({k: _xml(v) for k, v in self.payload_extras.items()})
        values = {
            "{{XSD_URL}}": f' xmlns:xsi="{self.xsd_url}"' if self.xsd_url else "",
            "{{ATTACHMENTS}}": "",
            "{{CORE}}": "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()),
        }
        pattern = re.compile("|".join(re.escape(k) for k in values), re.IGNORECASE)
        payload = pattern.sub(lambda m: values[m.group()], self.payload)
        return _request(self, "application/xml", data=payload, params=self.params)


def _xml(text: str) -> str:
    return str(NotifyXML.escape_html(text, whitespace=False))  # type: ignore[no-untyped-call]


WEBHOOKS: dict[type[Any], type[Any]] = {
    NotifyJSON: WebhookJSON, NotifyForm: WebhookForm, NotifyXML: WebhookXML,
    NotifySlack: WebhookSlack, NotifyDiscord: OneTryDiscord,
}


# Our plugin classes: the exchange is ours, with socket timeouts (``channels``
# calls their own notify(), not through an Apprise object).
OURS: tuple[type[Any], ...] = tuple(WEBHOOKS.values())


def observed(plugin: Any, url: str) -> Any:
    """``url``'s webhook as an object that records refusals; other plugins unchanged."""
    cls = WEBHOOKS.get(type(plugin))
    if cls is None:
        return plugin
    return cls(**cls.parse_url(url))
