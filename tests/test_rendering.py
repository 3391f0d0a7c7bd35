"""Alert rendering: names what matched and why; untrusted text escaped per channel, fitted
to the channel's limit, and never run as template code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from service.config.models import SubscriptionConfig
from service.domain import Evidence, Match
from service.escaping import clean, escape_markdown, escape_slack, fit, http_url
from service.rendering import KINDS, ChannelKind, Limits, Renderer, render_alert
from service.storage.records import AlertView

SENTENCE = "On May 27, Aliyev pardoned French national Théo Clerc."


def _view(title: str = "Pardon signals thaw", outlets: tuple[str, ...] = ()) -> AlertView:
    evidence = Evidence("content", SENTENCE, ((11, 17), (18, 26), (43, 53)))
    return AlertView(
        id=1, subscription_id="pardon-watch", story_id=1, attempts=0, delivered=(),
        title=title, url="https://www.azernews.az/a/1", source="AzerNews",
        published_at=datetime(2025, 5, 27, 17, 23, tzinfo=UTC),
        matches=(
            Match("entity", "ilham-aliyev", "Ilham Aliyev", (evidence,)),
            Match("entity", "emmanuel-macron", "Emmanuel Macron"),
            Match("event", "pardon", "Pardon", (evidence,), ("ilham-aliyev", "theo-clerc")),
        ),
        other_outlets=outlets,
    )


SUB = SubscriptionConfig(id="pardon-watch", name="Pardon watch", notify=("console://",),
                         events=("pardon",), entities=("ilham-aliyev", "theo-clerc"))
NAMES = {"ilham-aliyev": "Ilham Aliyev", "theo-clerc": "Théo Clerc"}


def test_message_names_subscription_title_link_source_and_why() -> None:
    message = render_alert(_view(), SUB, NAMES)
    assert message.title == "[newswatch] Pardon watch: Pardon signals thaw"
    body = message.body
    assert "https://www.azernews.az/a/1" in body
    assert "AzerNews · 2025-05-27 17:23 UTC" in body
    assert "Event: Pardon (taking part: Ilham Aliyev, Théo Clerc)" in body
    assert "> On May 27, **Aliyev** **pardoned** French national **Théo Clerc**." in body
    assert "Entity: Ilham Aliyev" in body
    assert "Macron" not in body  # not listed by this subscription


def test_other_outlets_are_named() -> None:
    body = render_alert(_view(outlets=("APA", "Trend")), SUB, NAMES).body
    assert "Also reported by 2 outlet(s): APA, Trend" in body


def test_control_characters_and_newlines_in_titles_are_removed() -> None:
    message = render_alert(_view(title="Bad\r\nBcc: x@example.org\x00"), SUB, NAMES)
    assert "\r" not in message.title and "\n" not in message.title
    assert message.title.endswith("Bad Bcc: x@example.org")
    assert clean("a\tb\u2028c") == "a b c"


# --- per-channel templates, escaping and limits (issue 6) ---------------------------



@pytest.mark.parametrize("kind", KINDS)
def test_feed_text_is_data_never_template_code(kind: str) -> None:
    message = Renderer().alert(kind, _view(title="{{ 7*7 }} {% if 1 %}x{% endif %}"),  # type: ignore[arg-type]
                               SUB, NAMES)
    assert "49" not in message.body
    assert "{{ 7*7 }}" in message.title


def test_slack_escaping_leaves_no_token_or_formatting() -> None:
    escaped = escape_slack("<!channel> <@U1|x> <#C1> <https://e.example|y> *b* _i_ ~s~ `c` \\")
    assert "<" not in escaped.replace("\\<", "") and ">" not in escaped.replace("\\>", "")
    assert not set("*_~`|") & set(escaped)


def test_markdown_escaping_disarms_links_html_and_emphasis() -> None:
    assert escape_markdown("[a](javascript:x) <b>*c*</b> & #") == (
        "\\[a\\](javascript:x) \\<b\\>\\*c\\*\\</b\\> \\& \\#")


def test_only_http_links_survive() -> None:
    assert http_url("javascript:alert(1)") is None
    assert http_url("data:text/html,x") is None
    assert http_url("https://a.example/p q?x=<y>") == "https://a.example/p%20q?x=%3Cy%3E"


def test_fit_cuts_at_a_line_and_marks_it() -> None:
    body = "\n".join(f"line {i}" for i in range(100))
    cut = fit(body, 50, "… message truncated")
    assert len(cut) <= 50 and cut.endswith("\n… message truncated")
    assert cut.split("\n")[:-1] == [f"line {i}" for i in range(len(cut.split("\n")) - 1)]
    assert fit("short", 50, "…") == "short"
    assert fit("x" * 100 + "\\\\\\", 60, "[cut]").endswith("x\n[cut]")


@pytest.mark.parametrize("kind", KINDS)
def test_a_40_kb_title_is_capped_with_an_ellipsis(kind: str) -> None:
    message = Renderer().alert(kind, _view(title="Aliyev " + "x" * 40_000), SUB, NAMES,  # type: ignore[arg-type]
                               Limits(body=2000, title=250))
    assert len(message.title) <= 250 and message.title.endswith("…")
    assert len(message.body) <= 2000


@pytest.mark.parametrize("kind", KINDS)
def test_a_digest_over_the_limit_ends_with_a_visible_mark(kind: str) -> None:
    views = [_view(title=f"Story {i}") for i in range(300)]
    message = Renderer().digest(kind, views, SUB, NAMES, Limits(body=4096, title=0))  # type: ignore[arg-type]
    assert message.title == "[newswatch] Pardon watch: 300 new stories"
    assert len(message.body) <= 4096 - len(message.title) - 2
    assert "message truncated" in message.body.splitlines()[-1]


@pytest.mark.parametrize("template", [
    "{{ alert.__class__.__mro__ }}",
    "{{ alert.title.__class__.__mro__ }}",  # past a data field read without the checks
    "{% for m in alert.matches %}{{ m.__init__.__globals__ }}{% endfor %}",
    "{% for m in alert.matches %}{{ m.evidence[0].__class__ }}{% endfor %}",
])
def test_override_templates_are_sandboxed(tmp_path: Path, template: str) -> None:
    (tmp_path / "alert.text.txt").write_text(template)
    with pytest.raises(SecurityError):
        Renderer(tmp_path).alert("text", _view(), SUB, NAMES)


def test_override_replaces_only_the_files_it_has(tmp_path: Path) -> None:
    (tmp_path / "alert.markdown.md").write_text("Custom: {{ alert.title }} <{{ alert.url|link }}>")
    renderer = Renderer(tmp_path)
    assert renderer.problems() == []
    custom = renderer.alert("markdown", _view(title="A <b>"), SUB, NAMES)
    assert custom.body == "Custom: A \\<b\\> <https://www.azernews.az/a/1>"
    assert "Event: Pardon" in renderer.alert("text", _view(), SUB, NAMES).body
    (tmp_path / "digest.text.txt").write_text("{% for %}")
    assert [p.split(":")[0] for p in Renderer(tmp_path).problems()] == ["digest.text.txt"]


TOPIC_SUB = SubscriptionConfig(id="desk", name="Desk", notify=("console://",),
                               topics=("azerbaijan-france",))


def _topic_view(*evidence: Evidence) -> AlertView:
    topic = Match("topic", "azerbaijan-france", "Azerbaijan–France relations", evidence)
    return AlertView(
        id=2, subscription_id="desk", story_id=2, attempts=0, delivered=(),
        title="Russia calls for halt to fighting", url=None, source="Al Jazeera",
        published_at=None, matches=(topic,), other_outlets=(),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_topic_quotes_each_sentence_that_adds_a_matched_word(kind: ChannelKind) -> None:
    view = _topic_view(
        Evidence("title", "Fighting between Azerbaijan and Karabakh", ((17, 27),)),
        Evidence("summary", "Azerbaijan denied it.", ((0, 10),)),  # nothing new: not quoted
        Evidence("summary", "France condemned Azerbaijan.", ((0, 6), (17, 27))),
    )
    body = render_alert(view, TOPIC_SUB, {}, kind).body
    assert "Fighting between" in body and "Karabakh" in body
    assert "condemned" in body
    assert "denied" not in body


def test_an_entity_quotes_its_first_sentence_only() -> None:
    first = Evidence("title", "Aliyev spoke.", ((0, 6),))
    second = Evidence("summary", "Then Macron spoke with Aliyev.", ((23, 29),))
    view = _view()
    entity = Match("entity", "ilham-aliyev", "Ilham Aliyev", (first, second))
    body = render_alert(replace(view, matches=(entity,)), SUB, NAMES).body
    assert "> **Aliyev** spoke." in body
    assert "Then Macron" not in body


@pytest.mark.parametrize("kind", KINDS)
def test_a_digest_names_the_other_outlets_of_each_story(kind: ChannelKind) -> None:
    views = [_view(title="Pardon", outlets=("APA", "Trend")), _view(title="Quiet", outlets=())]
    body = Renderer().digest(kind, views, SUB, NAMES, Limits(body=100_000, title=0)).body
    assert "also reported by APA, Trend" in body
    assert body.count("also reported by") == 1


def test_a_digest_says_how_many_outlets_it_does_not_name() -> None:
    outlets = tuple(f"Outlet {n}" for n in range(30))
    body = Renderer().digest("text", [_view(outlets=outlets)], SUB, NAMES,
                             Limits(body=100_000, title=0)).body
    assert "also reported by Outlet 0, Outlet 1" in body
    named = body.split("also reported by ", 1)[1].split(" and ", 1)[0].count("Outlet")
    assert f" and {30 - named} more" in body
