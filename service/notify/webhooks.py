"""Generic webhooks (json://, form://, xml://) that tell us what the server answered.

apprise's plugins call ``requests`` themselves and keep only "it failed":
a 429 or 503 with ``Retry-After`` is lost, so the outbox could only guess
how long to wait. These subclasses keep apprise's URL parsing, options,
validation and privacy-redacted names, and send the same payload apprise
would (checked against apprise's own plugins in tests/test_notify_webhooks.py),
but through one request function here that records the status and the
``Retry-After`` header of a refused send on the plugin object. Nothing is
registered with apprise and nothing global is patched: ``channels`` builds
these objects for those schemes only. Attachments are never sent by
newswatch, so they are not supported here.
"""

from __future__ import annotations

import re
from json import dumps
from typing import Any

import requests
from apprise import NotifyType
from apprise.plugins.custom_form import FORMPayloadField, NotifyForm
from apprise.plugins.custom_json import JSONPayloadField, NotifyJSON
from apprise.plugins.custom_xml import NotifyXML, XMLPayloadField


def _request(plugin: Any, content_type: str | None, **kwargs: Any) -> bool:
    """One HTTP exchange of a generic webhook, as apprise makes it; a refusal is recorded.

    ``plugin.last_status`` is the answer's status (None when none came) and
    ``plugin.last_retry_after`` its Retry-After header, verbatim.
    """
    plugin.last_status = plugin.last_retry_after = None
    url = f"{'https' if plugin.secure else 'http'}://{plugin.host}"
    if isinstance(plugin.port, int):
        url += f":{plugin.port}"
    headers = {"User-Agent": plugin.app_id}
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(plugin.headers)
    auth = (plugin.user, plugin.password or "") if plugin.user else None
    plugin.throttle()
    try:
        response = requests.request(
            plugin.method, url + (plugin.fullpath or ""), headers=headers, auth=auth,
            verify=plugin.verify_certificate, timeout=plugin.request_timeout,
            allow_redirects=plugin.redirects, **kwargs,
        )
    except requests.RequestException:
        return False
    plugin.last_status = response.status_code
    if 200 <= response.status_code < 300:
        return True
    plugin.last_retry_after = response.headers.get("Retry-After")
    return False


class WebhookJSON(NotifyJSON):  # type: ignore[no-untyped-call]
    attachment_support = False
    last_status: int | None = None
    last_retry_after: str | None = None

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


class WebhookForm(NotifyForm):  # type: ignore[no-untyped-call]
    attachment_support = False
    last_status: int | None = None
    last_retry_after: str | None = None

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


class WebhookXML(NotifyXML):  # type: ignore[no-untyped-call]
    attachment_support = False
    last_status: int | None = None
    last_retry_after: str | None = None

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
}


def observed(plugin: Any, url: str) -> Any:
    """``url``'s webhook as an object that records refusals; other plugins unchanged."""
    cls = WEBHOOKS.get(type(plugin))
    if cls is None:
        return plugin
    return cls(**cls.parse_url(url))
