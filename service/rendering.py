"""Alert messages per channel kind, from Jinja2 templates a subscription may override.

    AlertView + subscription ─► AlertData (pure values: cleaned, capped, http(s) links)
        ─► template of the channel's kind (sandboxed; every ``{{ value }}`` escaped
           for that kind on output) ─► body fitted to the channel's limit with a
           visible mark ─► Message(title, body, kind)

Feed text only ever enters a template as data: it is never compiled as
template code, and the environment is sandboxed so an ops-written template
cannot reach Python internals either. Default templates live in
``service/notify/templates/`` (``alert.<kind>``, ``digest.<kind>``); a
subscription's ``template:`` directory overrides any of them by file name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from service.config.models import SubscriptionConfig
from service.domain import Evidence, Match
from service.escaping import (
    clean,
    escape_markdown,
    escape_slack,
    escape_text,
    fit,
    http_url,
    one_line,
    shorten,
)
from service.routing import relevant_matches
from service.storage.records import AlertView

ChannelKind = Literal["slack", "email_html", "email_text", "markdown", "text"]
KINDS: tuple[ChannelKind, ...] = ("slack", "email_html", "email_text", "markdown", "text")
TEMPLATES = Path(__file__).with_name("notify") / "templates"

_FILES: dict[ChannelKind, str] = {
    "slack": "slack.md", "email_html": "email.html", "email_text": "email.txt",
    "markdown": "markdown.md", "text": "text.txt",
}
_MARKS: dict[ChannelKind, str] = {
    "slack": "_… message truncated_", "email_html": "<p><em>… message truncated</em></p>",
    "email_text": "… message truncated", "markdown": "*… message truncated*",
    "text": "… message truncated",
}
_ESCAPERS: dict[str, Callable[[str], str]] = {
    "slack": escape_slack, "markdown": escape_markdown, "text": escape_text,
}
_MAX_TITLE = 200
_MAX_SENTENCE = 400
_MAX_OUTLETS = 10
_KIND_LABELS = {"topic": "Topic", "entity": "Entity", "event": "Event"}
_UNLIMITED = 1_000_000


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    kind: ChannelKind = "text"
    text: str | None = None  # email_html: the plain-text part, from the email.txt template


@dataclass(frozen=True, slots=True)
class Limits:
    """A channel's size limits (apprise's own, per plugin); 0 means the title is in the body."""

    body: int = _UNLIMITED
    title: int = _UNLIMITED


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    matched: bool


@dataclass(frozen=True, slots=True)
class MatchData:
    kind: str  # topic | entity | event
    label: str  # Topic | Entity | Event
    name: str
    participants: tuple[str, ...]
    evidence: tuple[Segment, ...]  # the sentence that matched, matched words flagged
    quotes: tuple[tuple[Segment, ...], ...]  # the sentences that show why (first: evidence)


@dataclass(frozen=True, slots=True)
class AlertData:
    """What a template may say about one alert: plain values, already cleaned and capped."""

    subscription: str
    title: str
    url: str | None  # http(s) only, percent-encoded
    source: str
    published: str | None
    matches: tuple[MatchData, ...]
    other_outlets: tuple[str, ...]
    other_count: int


def segments(evidence: Evidence, limit: int = _MAX_SENTENCE) -> tuple[Segment, ...]:
    """The sentence split into matched and unmatched runs, cut to ``limit`` characters."""
    out: list[Segment] = []
    pos = 0
    for start, end in sorted(evidence.spans):
        if start < pos or start >= limit:
            continue
        if start > pos:
            out.append(Segment(evidence.sentence[pos:start], False))
        out.append(Segment(evidence.sentence[start:min(end, limit)], True))
        pos = min(end, limit)
    tail = evidence.sentence[pos:limit] + ("…" if len(evidence.sentence) > limit else "")
    if tail:
        out.append(Segment(tail, False))
    return tuple(Segment(one_line(s.text), s.matched) for s in out)


def why_sentences(match: Match) -> tuple[Evidence, ...]:
    """The sentences an alert quotes for a match: enough to show why it matched.

    An entity or an event is shown by its first sentence (the event's holds
    its trigger and participants). A topic is a query over the whole text:
    "Azerbaijan" in the title and "France" in the summary make it match
    together, so each further sentence of its evidence that adds a word not
    yet shown is quoted too (at most the evidence the classifier kept).
    """
    if not match.evidence:
        return ()
    if match.kind != "topic":
        return match.evidence[:1]
    shown: set[str] = set()
    chosen: list[Evidence] = []
    for evidence in match.evidence:
        words = {evidence.sentence[start:end].casefold() for start, end in evidence.spans}
        if not chosen or not words <= shown:
            chosen.append(evidence)
            shown |= words
    return tuple(chosen)


def _match_data(match: Match, names: Mapping[str, str]) -> MatchData:
    quotes = tuple(segments(evidence) for evidence in why_sentences(match))
    return MatchData(
        kind=match.kind, label=_KIND_LABELS[match.kind], name=clean(match.name),
        participants=tuple(clean(names.get(p, p)) for p in match.participants),
        evidence=quotes[0] if quotes else (), quotes=quotes,
    )


def subscription_name(subscription: SubscriptionConfig) -> str:
    return clean(subscription.name or subscription.id)


def alert_data(
    view: AlertView, subscription: SubscriptionConfig, names: Mapping[str, str]
) -> AlertData:
    outlets = tuple(clean(o) for o in view.other_outlets)
    matches = relevant_matches(subscription, view.matches)
    order = {"topic": 0, "entity": 1, "event": 2}
    return AlertData(
        subscription=subscription_name(subscription),
        title=shorten(clean(view.title), _MAX_TITLE) or "(untitled)",
        url=http_url(view.url), source=clean(view.source),
        published=view.published_at.strftime("%Y-%m-%d %H:%M UTC") if view.published_at else None,
        matches=tuple(_match_data(m, names) for m in sorted(matches, key=lambda m: order[m.kind])),
        other_outlets=outlets[:_MAX_OUTLETS], other_count=len(outlets),
    )


def alert_title(data: AlertData) -> str:
    return f"[newswatch] {data.subscription}: {data.title}"


def digest_title(subscription: str, count: int) -> str:
    return f"[newswatch] {subscription}: {count} new {'story' if count == 1 else 'stories'}"


def _finalize(escape: Callable[[str], str]) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        if value is None:
            return ""
        return value if isinstance(value, Markup) else escape(str(value))
    return finalize


def _link(value: str | None) -> Markup | None:
    """Template filter: an http(s) URL as link target (percent-encoded: no markup left)."""
    url = http_url(value)
    return Markup(url) if url else None


def _html_link(value: str | None) -> Markup | None:
    """The same for an HTML attribute (``&`` as ``&amp;``)."""
    url = http_url(value)
    return escape(url) if url else None


# The fields of the values templates are given: plain data, read without the
# sandbox's checks (which cost half of a render); anything else, a string's
# methods included, still goes through them.
_DATA_FIELDS: dict[type, frozenset[str]] = {
    cls: frozenset(f.name for f in fields(cls)) for cls in (AlertData, MatchData, Segment)
}


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, reading our own data classes' fields directly."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        names = _DATA_FIELDS.get(type(obj))
        if names is not None and attribute in names:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)


def _environment(loader: BaseLoader, flavour: str) -> ImmutableSandboxedEnvironment:
    html = flavour == "html"
    env = _Sandbox(
        loader=loader, autoescape=html, undefined=StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=False, auto_reload=False,
        finalize=(lambda v: "" if v is None else v) if html else _finalize(_ESCAPERS[flavour]),
    )
    env.filters["link"] = _html_link if html else _link
    return env


def _flavour(kind: ChannelKind) -> str:
    return {"slack": "slack", "email_html": "html", "markdown": "markdown"}.get(kind, "text")


class Renderer:
    """The templates of one subscription (defaults plus its overrides), compiled once:
    at construction, which is once per configuration (files are not re-read)."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[BaseLoader] = [FileSystemLoader(TEMPLATES)]
        if override_dir is not None:
            loaders.insert(0, FileSystemLoader(override_dir))
        loader = ChoiceLoader(loaders)
        envs = {f: _environment(loader, f) for f in ("slack", "html", "markdown", "text")}
        self._templates: dict[tuple[ChannelKind, str], Template] = {}
        self._problems: list[str] = []
        for kind in KINDS:
            for name in ("alert", "digest"):
                file = f"{name}.{_FILES[kind]}"
                try:
                    self._templates[kind, name] = envs[_flavour(kind)].get_template(file)
                except TemplateError as e:
                    self._problems.append(f"{file}: {e}")

    def problems(self) -> list[str]:
        """Every template that does not compile, as ``file: reason``."""
        return list(self._problems)

    def _render(self, kind: ChannelKind, name: str, limits: Limits, **data: object) -> str:
        template = self._templates.get((kind, name))
        if template is None:
            raise TemplateNotFound(f"{name}.{_FILES[kind]}: " + "; ".join(self._problems))
        body = template.render(**data).strip()
        return fit(body, limits.body, _MARKS[kind])

    def alert(
        self, kind: ChannelKind, view: AlertView, subscription: SubscriptionConfig,
        names: Mapping[str, str], limits: Limits = Limits(),
    ) -> Message:
        data = alert_data(view, subscription, names)
        title = _fit_title(alert_title(data), limits)
        fitted = _body_limits(limits, title)
        body = self._render(kind, "alert", fitted, alert=data)
        text = self._render("email_text", "alert", fitted, alert=data) if _both(kind) else None
        return Message(title=title, body=body, kind=kind, text=text)

    def digest(
        self, kind: ChannelKind, views: Sequence[AlertView], subscription: SubscriptionConfig,
        names: Mapping[str, str], limits: Limits = Limits(),
    ) -> Message:
        alerts = [alert_data(v, subscription, names) for v in views]
        title = _fit_title(digest_title(subscription_name(subscription), len(alerts)), limits)
        fitted, name = _body_limits(limits, title), subscription_name(subscription)
        body = self._render(kind, "digest", fitted, alerts=alerts, subscription=name)
        text = (self._render("email_text", "digest", fitted, alerts=alerts, subscription=name)
                if _both(kind) else None)
        return Message(title=title, body=body, kind=kind, text=text)


def _both(kind: ChannelKind) -> bool:
    """HTML email carries a plain-text alternative rendered from its own template."""
    return kind == "email_html"


def _fit_title(title: str, limits: Limits) -> str:
    return shorten(title, limits.title) if limits.title > 0 else title


def _body_limits(limits: Limits, title: str) -> Limits:
    """Channels without a title field carry it in the body: leave it room."""
    if limits.title > 0:
        return limits
    return Limits(body=max(limits.body - len(title) - 2, 200), title=0)


@cache
def default_renderer() -> Renderer:
    """The default templates, compiled once per process."""
    return Renderer()


def render_alert(
    view: AlertView, subscription: SubscriptionConfig, entity_names: Mapping[str, str],
    kind: ChannelKind = "text",
) -> Message:
    """The message for one alert with the default templates (text unless asked)."""
    return default_renderer().alert(kind, view, subscription, entity_names)
