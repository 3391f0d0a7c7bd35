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
own connection (``KeepAlive``), so HTTP keep-alive reuses one connection
(and its TLS handshake) for every alert of that channel instead of opening
one per alert. Nothing is registered with apprise and nothing global is
patched: ``channels`` builds these objects for those schemes only.
newswatch never sends attachments, so the generic webhooks do not support
them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from json import dumps
from typing import Any
from urllib.parse import urlencode

import certifi
import requests
import urllib3
from apprise import NotifyType
from apprise.plugins.custom_form import FORMPayloadField, NotifyForm
from apprise.plugins.custom_json import JSONPayloadField, NotifyJSON
from apprise.plugins.custom_xml import NotifyXML, XMLPayloadField
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.slack import NotifySlack, SlackMode
from requests.utils import get_netrc_auth, select_proxy
from urllib3.util import Retry, Timeout, make_headers


@dataclass(frozen=True, slots=True)
class Answer:
    """A webhook's answer: what ``_exchange`` and the Slack plugin look at."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    content: bytes


class KeepAlive:
    """One channel's HTTP connection, reused between its sends (keep-alive).

    The exchange is urllib3's (the library under requests) with what requests
    would add done once per connection: proxies from the environment (with
    ``NO_PROXY``), its CA bundle (certifi, or ``REQUESTS_CA_BUNDLE``),
    ``.netrc`` logins, read through requests' own helpers when the connection
    is opened. A request through ``requests.Session`` costs about twice the
    CPU of the same request through urllib3 (it re-reads the environment,
    merges settings and hooks, and wraps the answer on every call); per
    alert that was most of what the sender spent.

    The pool is built at the first send and dropped (the next send builds a
    new one) after a request that raised, so a broken or half-read
    connection is never reused. Nothing is retried (every urllib3 retry
    count is 0; only redirects are followed, as apprise asks), so nothing is
    sent twice: a send that met a connection the server had just closed
    fails and the outbox retries it. No cookies are kept. The lock
    serialises sends through one plugin object: the runner calls the sender
    from ``asyncio.to_thread``, whose threads vary.
    """

    last_status: int | None = None  # the last answer's status (None: no answer)
    last_retry_after: str | None = None  # a refusal's Retry-After header, verbatim
    last_error: str | None = None  # why no answer came, without the URL (it holds tokens)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool: urllib3.PoolManager | None = None
        self._pool_for: tuple[str, bool] = ("", True)  # (url, verify) the pool was built for
        self._netrc: tuple[str, str] | None = None
        self._session_lock = threading.Lock()

    def _drop_session(self) -> None:
        if self._pool is not None:
            self._pool.clear()
            self._pool = None

    def _open(self, url: str, verify: bool) -> urllib3.PoolManager:
        """The connection pool for ``url``, with the environment's settings read once."""
        if self._pool is not None and self._pool_for == (url, verify):
            return self._pool
        self._drop_session()
        found = requests.Session().merge_environment_settings(url, {}, None, verify, None)
        options: dict[str, Any] = {"maxsize": 1, "cert_reqs": "CERT_NONE"}
        if verify:
            bundle = found["verify"] if isinstance(found["verify"], str) else certifi.where()
            options["cert_reqs"] = "CERT_REQUIRED"
            options["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
        proxy = select_proxy(url, found["proxies"])
        self._pool = (urllib3.ProxyManager(proxy, **options) if proxy
                      else urllib3.PoolManager(**options))
        self._pool_for, self._netrc = (url, verify), get_netrc_auth(url)
        return self._pool

    def exchange(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: Any,
        verify: bool = True, allow_redirects: bool = True, data: Any = None,
        params: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None,
    ) -> Answer | None:
        """One HTTP request over this channel's connection (None when no answer came)."""
        fields = {**_DEFAULT_HEADERS, **headers}
        body = data
        if isinstance(data, Mapping):
            body = urlencode(list(data.items()), doseq=True)
            fields.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if isinstance(body, str):
            body = body.encode("utf-8")
        target = url
        if params:
            target += ("&" if "?" in url else "?") + urlencode(list(params.items()), doseq=True)
        with self._session_lock:
            pool = self._open(url, verify)
            login = auth or self._netrc
            if login is not None:
                fields.update(make_headers(basic_auth=f"{login[0]}:{login[1]}"))
            redirects = _MAX_REDIRECTS if allow_redirects else 0
            retries = Retry(total=None, connect=0, read=0, status=0, other=0,
                            redirect=redirects, raise_on_redirect=False, raise_on_status=False)
            try:
                response = pool.request(method, target, body=body, headers=fields,
                                        timeout=_timeout(timeout), retries=retries,
                                        redirect=allow_redirects, preload_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                self._drop_session()
                self.last_error = no_answer(e)
                return None
        return Answer(response.status, response.headers, response.data)


def no_answer(error: BaseException) -> str:
    """Why a request got no answer, in words that never quote its URL (urllib3's
    messages do, and a webhook's path is its secret)."""
    reason = getattr(error, "reason", None)  # MaxRetryError wraps the cause
    cause = reason if isinstance(reason, BaseException) else error
    for kinds, words in _NO_ANSWER:
        if isinstance(cause, kinds):
            return words
    return f"no answer ({type(cause).__name__})"


_NO_ANSWER: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    # in this order: urllib3 derives NewConnectionError from its TimeoutError
    (urllib3.exceptions.NameResolutionError, "no answer: host name not found"),
    ((urllib3.exceptions.NewConnectionError, ConnectionRefusedError),
     "no answer: connection failed"),
    ((urllib3.exceptions.TimeoutError, TimeoutError), "no answer: timed out"),
    (urllib3.exceptions.SSLError, "no answer: TLS handshake failed"),
    (urllib3.exceptions.ProxyError, "no answer: proxy refused"),
    ((urllib3.exceptions.ProtocolError, ConnectionError), "no answer: connection dropped"),
)


_DEFAULT_HEADERS = dict(requests.utils.default_headers())  # what requests sends by default
_MAX_REDIRECTS = requests.models.DEFAULT_REDIRECT_LIMIT


def _timeout(value: Any) -> Timeout:
    """apprise's ``request_timeout``, (connect, read) or one number, as urllib3's."""
    if isinstance(value, tuple):
        return Timeout(connect=value[0], read=value[1])
    return Timeout(total=value)


def _exchange(plugin: Any, method: str, url: str, **kwargs: Any) -> Answer | None:
    """One HTTP request as apprise makes it (None when no answer came); a refusal is recorded.

    ``plugin.last_status`` is the answer's status and ``plugin.last_retry_after``
    a non-2xx answer's Retry-After header, verbatim.
    """
    plugin.last_status = plugin.last_retry_after = plugin.last_error = None
    plugin.throttle()
    response: Answer | None = plugin.exchange(
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
