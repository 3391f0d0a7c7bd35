"""Each channel kind end to end through apprise: what the service really receives.

Email goes to a real SMTP server (aiosmtpd); Slack's plugin posts to a local
HTTP server (its webhook base pointed there, on that one plugin object, in
the test only); generic channels go to a local json:// endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from service.config.models import SubscriptionConfig
from service.domain import Evidence, Match
from service.notify.channels import Channel, build_channel
from service.notify.sender import Recipient, deliver, message_maker, render_for
from service.rendering import Limits, Message, Renderer
from service.storage.records import AlertView
from tests.feedserver import FeedServer
from tests.notifyserver import JsonEndpoint, SmtpInbox, parts, self_signed_certificate

HOSTILE = ("Aliyev says <!channel> <!here> <!everyone> <@U123ABC> <#C999|general> "
           "<https://evil.example|click me> *bold* _it_ ~s~ `code` <script>alert(1)</script> "
           "&lt;!channel&gt;")
SUB = SubscriptionConfig(id="desk", name="Caucasus desk", notify=("console://",),
                         entities=("ilham-aliyev",))


def _view(title: str = "Pardon <!channel> <b>bold</b>", url: str | None = None,
          outlets: tuple[str, ...] = ("APA <!here>",)) -> AlertView:
    evidence = Evidence("content", HOSTILE, ((0, 6),))
    return AlertView(
        id=7, subscription_id="desk", story_id=1, attempts=0, delivered=(), title=title,
        url=url or "https://news.example/a?b=1&c=<x>", source="Azer <Wire>",
        published_at=datetime(2026, 5, 27, 17, 23, tzinfo=UTC),
        matches=(Match("entity", "ilham-aliyev", "Ilham Aliyev", (evidence,)),),
        other_outlets=outlets,
    )


def _send(channel: Channel, views: list[AlertView], digest: bool = False) -> bool:
    recipient = Recipient(SUB, (channel,), Renderer())
    make = message_maker(recipient, views, {}, digest=digest)
    return not deliver([channel], make, ()).failures


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with SmtpInbox() as inbox:
        yield inbox


def test_email_has_subject_html_and_text_parts_escaped(smtp: SmtpInbox) -> None:
    channel = build_channel(0, smtp.url())
    assert channel.kind == "email_html"
    assert _send(channel, [_view()])
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "[newswatch] Caucasus desk: Pardon <!channel> <b>bold</b>"
    found = dict(parts(message))
    assert set(found) == {"text/plain", "text/html"}
    html = found["text/html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert '<a href="https://news.example/a?b=1&amp;c=%3Cx%3E">' in html
    assert "<strong>Aliyev</strong> says" in html
    assert "Also reported by 1 outlet(s): APA &lt;!here&gt;" in html
    text = found["text/plain"].replace("\r\n", "\n")  # MIME text is CRLF on the wire
    ours = Renderer().alert("email_text", _view(), SUB, {}, channel.limits)
    assert text.rstrip("\n") == ours.body  # our text template, not a conversion of the HTML
    assert "**Aliyev** says" in text and "Entity: Ilham Aliyev" in text
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_email_tls_modes_of_the_url_are_honoured(tmp_path: Path, mode: str) -> None:
    with SmtpInbox(tls=mode, certificate=self_signed_certificate(tmp_path)) as inbox:
        url = (f"mailtos://127.0.0.1:{inbox.port}?mode={mode}&verify=no"
               "&from=newswatch@example.org&to=desk@example.org")
        channel = build_channel(0, url)
        assert _send(channel, [_view()])
        (message,) = inbox.wait_for(1)
        if mode == "starttls":
            plain = build_channel(0, url.replace("mailtos://", "mailto://").replace(
                f"mode={mode}", "mode=insecure"))
            assert not _send(plain, [_view()])  # the server insists on STARTTLS
    assert inbox.encrypted == [True]
    assert set(dict(parts(message))) == {"text/plain", "text/html"}


def test_email_digest_has_both_parts_from_our_templates(smtp: SmtpInbox) -> None:
    channel = build_channel(0, smtp.url())
    views = [_view(title=f"Story {i} <i>") for i in range(3)]
    assert _send(channel, views, digest=True)
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "[newswatch] Caucasus desk: 3 new stories"
    found = dict(parts(message))
    expected = Renderer().digest("email_text", views, SUB, {}, channel.limits).body
    assert found["text/plain"].replace("\r\n", "\n").rstrip("\n") == expected
    assert "Story 2 <i>" in found["text/plain"]
    assert "Story 2 &lt;i&gt;" in found["text/html"]


def test_email_url_options_are_kept(smtp: SmtpInbox) -> None:
    url = smtp.url() + "&cc=copy@example.org&bcc=hidden@example.org&name=Rédaction&+X-Desk=ca"
    channel = build_channel(0, url)
    assert _send(channel, [_view()])
    (message,) = smtp.wait_for(1)
    assert smtp.envelopes == [("newswatch@example.org",
                               ["desk@example.org", "copy@example.org", "hidden@example.org"])]
    assert message["Cc"] == "copy@example.org" and message["Bcc"] is None
    assert message["X-Desk"] == "ca"
    assert message["From"] == "Rédaction <newswatch@example.org>"


def test_title_with_cr_lf_cannot_inject_email_headers(smtp: SmtpInbox) -> None:
    channel = build_channel(0, smtp.url())
    assert _send(channel, [_view(title="Pardon\r\nBcc: victim@example.org\r\n\r\nbody")])
    (message,) = smtp.wait_for(1)
    assert message["Bcc"] is None
    assert smtp.envelopes == [("newswatch@example.org", ["desk@example.org"])]
    assert smtp.encrypted == [False]  # mode=insecure: plain SMTP
    assert message["Subject"] == "[newswatch] Caucasus desk: Pardon Bcc: victim@example.org body"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert "Pardon Bcc: victim@example.org body" in dict(parts(message))["text/plain"]


def test_links_are_only_http(smtp: SmtpInbox) -> None:
    channel = build_channel(0, smtp.url())
    assert _send(channel, [_view(url="javascript:alert(1)")])
    html = dict(parts(smtp.wait_for(1)[0]))["text/html"]
    assert "javascript:" not in html and "<a " not in html.split("</h2>")[0]


class SlackHook:
    """A stand-in for hooks.slack.com that records the JSON apprise posts."""

    def __init__(self, server: FeedServer) -> None:
        self.payloads: list[dict[str, object]] = []
        self.base = server.url("/services")
        server.add("/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.payloads.append(json.loads(await request.text()))
        return web.Response(text="ok")

    def channel(self) -> Channel:
        channel = build_channel(0, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/")
        channel.plugin.webhook_url = self.base  # this plugin object only
        return channel


@pytest.fixture
def slack() -> Iterator[SlackHook]:
    with FeedServer() as server:
        yield SlackHook(server)


def _slack_text(payload: dict[str, object]) -> tuple[str, str]:
    attachments = payload["attachments"]
    assert isinstance(attachments, list)
    (attachment,) = attachments
    return str(attachment["title"]), str(attachment["text"])


LIVE_TOKEN = re.compile(r"<[!@#]|<https?://[^>]*\|")
OUR_LINK = "<https://news.example/a?b=1&amp;c=%3Cx%3E|"


def _live_tokens(text: str) -> list[str]:
    """Slack tokens in ``text`` other than our own link to the article."""
    return LIVE_TOKEN.findall(text.replace(OUR_LINK, ""))


def test_slack_payload_has_no_live_tokens_and_keeps_our_formatting(slack: SlackHook) -> None:
    channel = slack.channel()
    assert channel.kind == "slack"
    assert _send(channel, [_view()])
    (payload,) = slack.payloads
    title, text = _slack_text(payload)
    assert payload["mrkdwn"] is True
    assert _live_tokens(title) == [] and _live_tokens(text) == []
    # every link Slack will render is ours: the article, with the title as label
    assert re.findall(r"<([^>|]+)\|", text) == ["https://news.example/a?b=1&amp;c=%3Cx%3E"]
    assert "&lt;!channel&gt;" in text and "&lt;@U123ABC&gt;" in text
    assert "*Aliyev* says" in text  # the matched word in bold
    assert "∗bold∗ ˍitˍ ∼s∼ ˋcodeˋ" in text  # feed text cannot format
    assert "&amp;lt;!channel&amp;gt;" in text  # an escaped token stays text
    assert "Also reported by 1 outlet(s): APA &lt;!here&gt;" in text


def test_slack_digest_of_many_stories_fits_with_a_visible_mark(slack: SlackHook) -> None:
    channel = slack.channel()
    views = [_view(title=f"Story {i} " + "&<" * 150) for i in range(400)]
    assert _send(channel, views, digest=True)
    (payload,) = slack.payloads
    _, text = _slack_text(payload)
    assert len(text) <= channel.limits.body
    assert text.endswith("_… message truncated_")
    assert _live_tokens(text) == []


def test_generic_channel_gets_escaped_markdown() -> None:
    with FeedServer() as server:
        endpoint = JsonEndpoint(server)
        channel = build_channel(0, endpoint.apprise_url)
        assert channel.kind == "markdown"
        assert _send(channel, [_view()])
    (payload,) = endpoint.received
    body = str(payload["message"])
    title = "Pardon \\<!channel\\> \\<b\\>bold\\</b\\>"
    assert f"**[{title}](<https://news.example/a?b=1&c=%3Cx%3E>)**" in body
    assert "\\<script\\>" in body and "<script>" not in body
    assert "**Aliyev** says" in body


@pytest.mark.parametrize(("url", "limit"), [
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", 2000),
    ("tgram://123456789:abcdefg_hijklmnop/-100123456", 4096),
])
def test_channel_limits_are_apprise_s_and_respected_with_a_mark(url: str, limit: int) -> None:
    channel = build_channel(0, url)
    assert channel.limits.body == limit
    views = [_view(title=f"Story {i}") for i in range(200)]
    recipient = Recipient(SUB, (channel,), Renderer())
    message = render_for(channel, message_maker(recipient, views, {}, digest=True))
    assert len(message.body) + (len(message.title) + 2) * (channel.limits.title <= 0) <= limit
    assert message.body.endswith("… message truncated*")


def test_a_40_kb_title_is_cut_everywhere(smtp: SmtpInbox, slack: SlackHook) -> None:
    huge = _view(title="Aliyev " + "x" * 40_000)
    with FeedServer() as server:
        endpoint = JsonEndpoint(server)
        channels = [build_channel(0, smtp.url()), slack.channel(),
                    build_channel(0, endpoint.apprise_url)]
        for channel in channels:
            assert _send(channel, [huge])
    (email,) = smtp.wait_for(1)
    assert len(email["Subject"]) < 300 and email["Subject"].endswith("…")
    assert all(len(text) < 2000 for _, text in parts(email))
    title, text = _slack_text(slack.payloads[0])
    assert len(title) <= 250 and len(text) < 2000
    (payload,) = endpoint.received
    assert len(str(payload["title"])) < 300 and str(payload["title"]).endswith("…")
    assert len(str(payload["message"])) < 2000


def test_message_kinds_render_from_one_alert() -> None:
    renderer = Renderer()
    messages = {k: renderer.alert(k, _view(), SUB, {}, Limits())
                for k in ("slack", "email_html", "email_text", "markdown", "text")}
    assert {m.title for m in messages.values()} == {
        "[newswatch] Caucasus desk: Pardon <!channel> <b>bold</b>"}
    assert all(isinstance(m, Message) and "Ilham Aliyev" in m.body for m in messages.values())
