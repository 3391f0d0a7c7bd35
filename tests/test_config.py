"""Tests for loading a configuration directory: every problem has file, line and key."""

from __future__ import annotations

import sys
import textwrap
import types
from datetime import timedelta
from pathlib import Path

import pytest

from service.config import Config, ConfigError, find_config_dir, load_config
from service.errors import ConfigProblem, QuerySyntaxError

SETTINGS = """\
database_url: sqlite:///data/newswatch.db
broker_url: redis://localhost:6379/0
log_level: info
fetch:
  allow_private_addresses: false
  timeout_seconds: 30
  max_bytes: 15000000
poll:
  default_interval: 15m
alerts:
  max_age: 3d
ops:
  notify: ["${OPS_SLACK}"]
"""

FEEDS = """\
feeds:
  - url: https://www.azernews.az/rss.xml
    name: AzerNews
    interval: 5m
  - url: https://example.org/feed.xml
"""

CAUCASUS = """\
entities:
  - id: ilham-aliyev
    name: Ilham Aliyev
    aliases: ["Aliyev", "İlham Əliyev", "Əliyev*", "Алиев*"]
  - id: theo-clerc
    name: Théo Clerc
    aliases: ["Teo Klerk*", "Тео Клерк*"]
events:
  - id: pardon
    triggers: ["pardon*", "clemency", "amnesty", "grâce*", "gracié*", "əfv*", "помилова*"]
topics:
  - id: azerbaijan-france
    name: Azerbaijan–France relations
    query: >
      (Azerbaijan* OR Baku OR Aliyev OR Azərbaycan* OR Bakou OR Азербайджан*)
      AND (France OR French OR Paris OR Macron OR Fransa* OR français* OR Франц*)
      AND NOT (football OR "Grand Prix")
subscriptions:
  - id: caucasus-desk
    notify: ["${CAUCASUS_SLACK}", "mailto://desk@example.org"]
    topics: [azerbaijan-france]
  - id: pardon-watch
    notify: ["${PARDON_SLACK}"]
    events: [pardon]
    entities: [ilham-aliyev, theo-clerc]
"""

FRANCE = """\
entities:
  - id: emmanuel-macron
    name: Emmanuel Macron
    aliases: [Macron]
subscriptions:
  - id: macron-watch
    notify: ["mailto://fr@example.org"]
    entities: [emmanuel-macron, ilham-aliyev]
"""

ENV = {
    "OPS_SLACK": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops",
    "CAUCASUS_SLACK": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#caucasus",
    "PARDON_SLACK": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#pardon",
}



def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> YAML text, dedented) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def problems_of(root: Path, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_config(root, ENV if env is None else env)
    return caught.value.problems


def where(problems: list[ConfigProblem]) -> list[tuple[str, int | None, str | None]]:
    return [(p.file, p.line, p.key) for p in problems]


def feeds_only(tmp_path: Path, **extra: str) -> Path:
    return write(tmp_path, {"feeds.yaml": FEEDS, **extra})


# -- a valid directory -------------------------------------------------------------


def test_full_example_loads_and_merges_watchlists(tmp_path: Path) -> None:
    files = {
        "newswatch.yaml": SETTINGS,
        "feeds.yaml": FEEDS,
        "watchlists/caucasus.yaml": CAUCASUS,
        "watchlists/france.yaml": FRANCE,
    }
    config = load_config(write(tmp_path, files), ENV)
    assert isinstance(config, Config)
    assert config.directory == str(tmp_path.resolve())
    assert config.settings.ops.notify == ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops",)
    assert config.settings.poll.default_interval == timedelta(minutes=15)
    assert [f.url for f in config.feeds] == [
        "https://www.azernews.az/rss.xml",
        "https://example.org/feed.xml",
    ]
    assert config.feeds[0].interval == timedelta(minutes=5)
    lists = config.watchlists
    assert [e.id for e in lists.entities] == ["ilham-aliyev", "theo-clerc", "emmanuel-macron"]
    assert [s.id for s in lists.subscriptions] == ["caucasus-desk", "pardon-watch", "macron-watch"]
    assert lists.subscriptions[0].notify == (
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#caucasus",
        "mailto://desk@example.org",
    )
    assert lists.topics[0].query.startswith("(Azerbaijan* OR Baku")
    assert len(config.version) == 64


def test_version_changes_with_content(tmp_path: Path) -> None:
    root = feeds_only(tmp_path)
    first = load_config(root, {}).version
    assert load_config(root, {}).version == first
    write(root, {"watchlists/a.yaml": "entities: [{id: a, name: A}]\n"})
    assert load_config(root, {}).version != first


def test_missing_settings_and_watchlists_mean_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"feeds.yaml": ""}), {})
    assert config.settings.log_level == "info"
    assert config.feeds == ()
    assert config.watchlists.subscriptions == ()


def test_find_config_dir_prefers_cli_then_environment() -> None:
    env = {"NEWSWATCH_CONFIG": "/etc/newswatch"}
    assert find_config_dir("/srv/cfg", env) == Path("/srv/cfg")
    assert find_config_dir(None, env) == Path("/etc/newswatch")
    assert find_config_dir(None, {}) == Path("config")


# -- unknown keys and wrong values ---------------------------------------------------


def test_unknown_keys_everywhere(tmp_path: Path) -> None:
    settings = "colour: blue\nfetch:\n  timeout_seconds: 5\n  retries: 3\n"
    feeds = "feeds:\n  - url: https://a.example/rss\n    tags: [x]\n"
    watch = "topics:\n  - {id: t, query: x}\nsubscriptions:\n  - id: s\n    notify: ['console://']\n"
    watch += "    topics: [t]\n    colour: red\n"
    root = write(
        tmp_path,
        {"newswatch.yaml": settings, "feeds.yaml": feeds, "watchlists/w.yaml": watch},
    )
    problems = problems_of(root)
    assert where(problems) == [
        (str(root / "newswatch.yaml"), 1, "colour"),
        (str(root / "newswatch.yaml"), 4, "fetch.retries"),
        (str(root / "feeds.yaml"), 3, "feeds[0].tags"),
        (str(root / "watchlists/w.yaml"), 7, "subscriptions[0].colour"),
    ]
    assert {p.message for p in problems} == {"unknown key"}
    assert str(problems[3]) == f"{root}/watchlists/w.yaml:7: subscriptions[0].colour: unknown key"


def test_a_misspelt_key_names_the_key_meant_at_its_spot(tmp_path: Path) -> None:
    settings = "fetch:\n  timout_seconds: 5\npol:\n  default_interval: 5m\n"
    feeds = "feeds:\n  - url: https://a.example/rss\n    intervall: 5m\n"
    watch = (
        "entities:\n  - {id: e, name: E, alias: [x]}\nevents:\n  - {id: v, trigger: [y]}\n"
        "subscriptions:\n  - id: s\n    notify: ['console://']\n    entities: [e]\n"
        "    digest: {every: 1d, att: '08:00', colour: red}\n"
    )
    root = write(tmp_path, {"newswatch.yaml": settings, "feeds.yaml": feeds,
                            "watchlists/w.yaml": watch})
    unknown = {p.key: p.message for p in problems_of(root) if p.message.startswith("unknown")}
    assert unknown == {
        "fetch.timout_seconds": "unknown key (did you mean 'timeout_seconds'?)",
        "pol": "unknown key (did you mean 'poll'?)",
        "feeds[0].intervall": "unknown key (did you mean 'interval'?)",
        "entities[0].alias": "unknown key (did you mean 'aliases'?)",
        "events[0].trigger": "unknown key (did you mean 'triggers'?)",
        "subscriptions[0].digest.att": "unknown key (did you mean 'at'?)",
        "subscriptions[0].digest.colour": "unknown key",  # nothing close: no guess
    }


def test_wrong_type(tmp_path: Path) -> None:
    root = feeds_only(tmp_path, **{"newswatch.yaml": "fetch:\n  timeout_seconds: fast\n"})
    [problem] = problems_of(root)
    assert where([problem]) == [(str(root / "newswatch.yaml"), 2, "fetch.timeout_seconds")]
    assert problem.message == "must be a number, not 'fast'"


def test_bad_duration(tmp_path: Path) -> None:
    feeds = "feeds:\n  - url: https://a.example/rss\n    interval: 5 minutes\n"
    [problem] = problems_of(write(tmp_path, {"feeds.yaml": feeds}))
    assert where([problem]) == [(str(tmp_path / "feeds.yaml"), 3, "feeds[0].interval")]
    assert problem.message.startswith("not a duration: '5 minutes'")


def test_missing_required_key_points_at_its_mapping(tmp_path: Path) -> None:
    feeds = "feeds:\n  - url: https://a.example/rss\n  - name: No URL\n    interval: 5m\n"
    [problem] = problems_of(write(tmp_path, {"feeds.yaml": feeds}))
    assert where([problem]) == [(str(tmp_path / "feeds.yaml"), 3, "feeds[1].url")]
    assert problem.message == "required key is missing"


# -- ${NAME} substitution -----------------------------------------------------------


def test_missing_variable(tmp_path: Path) -> None:
    root = feeds_only(tmp_path, **{"watchlists/c.yaml": CAUCASUS})
    env = {k: v for k, v in ENV.items() if k != "CAUCASUS_SLACK"}
    [problem] = problems_of(root, env)
    assert where([problem]) == [
        (str(root / "watchlists/c.yaml"), 20, "subscriptions[0].notify[0]"),
    ]
    assert problem.message == "environment variable CAUCASUS_SLACK is not set"


def test_several_variables_in_one_string_and_escape(tmp_path: Path) -> None:
    settings = 'database_url: "postgresql://${USER}:${PASS}@db/x?literal=$${KEEP}"\n'
    root = feeds_only(tmp_path, **{"newswatch.yaml": settings})
    config = load_config(root, {"USER": "nw", "PASS": "s3cret"})
    assert config.settings.database_url == "postgresql://nw:s3cret@db/x?literal=${KEEP}"


def test_wrong_type_does_not_echo_a_substituted_secret(tmp_path: Path) -> None:
    root = feeds_only(tmp_path, **{"newswatch.yaml": 'ops:\n  notify: "${OPS_SLACK}"\n'})
    [problem] = problems_of(root)
    assert where([problem]) == [(str(root / "newswatch.yaml"), 2, "ops.notify")]
    assert problem.message == "must be a list"


# -- feeds ------------------------------------------------------------------------


def test_file_feed_url_refused_at_url_line(tmp_path: Path) -> None:
    feeds = "feeds:\n  - url: https://a.example/rss\n  - name: local\n    url: file:///etc/passwd\n"
    [problem] = problems_of(write(tmp_path, {"feeds.yaml": feeds}))
    assert where([problem]) == [(str(tmp_path / "feeds.yaml"), 4, "feeds[1].url")]
    assert str(problem) == (
        f"{tmp_path}/feeds.yaml:4: feeds[1].url: "
        "feed URL must be http(s) with a host: 'file:///etc/passwd'"
    )


def test_duplicate_feed_url(tmp_path: Path) -> None:
    feeds = "feeds:\n  - url: https://a.example/rss\n  - url: https://a.example/rss\n"
    [problem] = problems_of(write(tmp_path, {"feeds.yaml": feeds}))
    assert where([problem]) == [(str(tmp_path / "feeds.yaml"), 3, "feeds[1].url")]
    assert "duplicate feed URL" in problem.message
    assert "feeds[0].url at line 2" in problem.message


def test_missing_feeds_file(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path)
    assert where([problem]) == [(str(tmp_path / "feeds.yaml"), None, None)]
    assert problem.message == "required file is missing"


def test_missing_directory(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "nowhere")
    assert where([problem]) == [(str(tmp_path / "nowhere"), None, None)]


# -- YAML itself ------------------------------------------------------------------


def test_python_tag_refused(tmp_path: Path) -> None:
    settings = 'log_level: info\ndatabase_url: !!python/object/apply:os.system ["echo hi"]\n'
    [problem] = problems_of(feeds_only(tmp_path, **{"newswatch.yaml": settings}))
    assert where([problem]) == [(str(tmp_path / "newswatch.yaml"), 2, "database_url")]
    assert "!!python/object/apply:os.system" in problem.message
    assert "not allowed" in problem.message


def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    feeds = "feeds:\n  - url: https://a.example/rss\n    name: [unclosed\n  - url: x\n"
    [problem] = problems_of(write(tmp_path, {"feeds.yaml": feeds}))
    assert problem.file == str(tmp_path / "feeds.yaml")
    assert problem.line == 4
    assert problem.column is not None
    assert problem.key is None
    assert problem.message.startswith("invalid YAML:")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, {"feeds.yaml": "- https://a.example/rss\n"}))
    assert where([problem]) == [(str(tmp_path / "feeds.yaml"), 1, None)]
    assert "mapping" in problem.message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    root = feeds_only(tmp_path, **{"newswatch.yaml": "log_level: info\nlog_level: debug\n"})
    [problem] = problems_of(root)
    assert where([problem]) == [(str(root / "newswatch.yaml"), 2, "log_level")]
    assert problem.message == "duplicate key (first at line 1)"


# -- watchlists across files ----------------------------------------------------------


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    first = "entities:\n  - id: aliyev\n    name: Ilham Aliyev\n"
    second = "events:\n  - id: aliyev\n    triggers: [x]\nentities:\n  - id: aliyev\n    name: A\n"
    root = feeds_only(tmp_path, **{"watchlists/a.yaml": first, "watchlists/b.yaml": second})
    [problem] = problems_of(root)
    assert where([problem]) == [(str(root / "watchlists/b.yaml"), 5, "entities[0].id")]
    assert problem.message == (
        f"duplicate entity id 'aliyev' (first defined at {root}/watchlists/a.yaml:2)"
    )


def test_duplicate_ids_on_one_line(tmp_path: Path) -> None:
    watch = "topics: [{id: t, query: a}, {id: t, query: b}]\n"
    [problem] = problems_of(feeds_only(tmp_path, **{"watchlists/w.yaml": watch}))
    assert where([problem]) == [(str(tmp_path / "watchlists/w.yaml"), 1, "topics[1].id")]
    assert problem.message.startswith("duplicate topic id 't'")


def test_unknown_topic_in_subscription(tmp_path: Path) -> None:
    watch = "subscriptions:\n  - id: s\n    notify: ['console://']\n    topics:\n      - nope\n"
    [problem] = problems_of(feeds_only(tmp_path, **{"watchlists/w.yaml": watch}))
    assert where([problem]) == [
        (str(tmp_path / "watchlists/w.yaml"), 5, "subscriptions[0].topics[0]")
    ]
    assert problem.message == "unknown topic id 'nope'"


def test_reference_to_another_file_is_known(tmp_path: Path) -> None:
    root = feeds_only(tmp_path, **{"watchlists/a.yaml": CAUCASUS, "watchlists/b.yaml": FRANCE})
    assert load_config(root, ENV).watchlists.subscriptions[2].entities[1] == "ilham-aliyev"


def test_subscription_needs_something_to_match(tmp_path: Path) -> None:
    watch = "subscriptions:\n  - id: s\n    notify: ['console://']\n"
    [problem] = problems_of(feeds_only(tmp_path, **{"watchlists/w.yaml": watch}))
    assert where([problem]) == [(str(tmp_path / "watchlists/w.yaml"), 2, "subscriptions[0]")]


def fake_parse_query(text: str) -> None:
    """Stands in for service.matching.query.parse_query: ``@`` is a syntax error."""
    if "@" in text:
        raise QuerySyntaxError("unexpected '@'", column=text.index("@") + 1)


@pytest.fixture
def fake_query_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("service.matching.query")
    module.parse_query = fake_parse_query  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "service.matching.query", module)


@pytest.mark.usefixtures("fake_query_parser")
@pytest.mark.parametrize(
    ("query", "line", "column"),
    [
        ("query: a @ b\n", 3, 14),
        ("query: 'a @ b'\n", 3, 15),
        ("query: 'it''s @ b'\n", 3, 19),  # '' stands for one quote
        ('query: "a @ b"\n', 3, 15),
        ("query: a OR b\n      AND c @\n", 4, 13),  # a plain scalar over two lines
        ("query: >\n      a OR @b\n      AND c\n", 4, 12),
        ("query: >\n      a OR b\n      AND @c\n", 5, 11),
        ("query: >-\n      a OR b\n\n      AND c\n      OR @\n", 7, 10),
        ("query: |\n      a OR b\n      AND c\n      OR d @\n", 6, 12),
        ("query: |2\n      a OR b\n        AND @c\n", 5, 13),  # more indented
    ],
)
def test_query_error_line_and_column(tmp_path: Path, query: str, line: int, column: int) -> None:
    watch = f"topics:\n  - id: t\n    {query}"
    [problem] = problems_of(feeds_only(tmp_path, **{"watchlists/w.yaml": watch}))
    assert where([problem]) == [(str(tmp_path / "watchlists/w.yaml"), line, "topics[0].query")]
    assert (problem.column, problem.message) == (column, "invalid query: unexpected '@'")


@pytest.mark.parametrize(
    ("query", "env", "column"),
    [
        ('query: "a\\tb @ c"\n', {}, 5),  # an escape: the file's text is not the value
        ("query: a ${BAD}\n", {"BAD": "@ b"}, 3),  # substituted from the environment
    ],
)
def test_query_error_falls_back_to_the_query_start_and_says_so(
    tmp_path: Path, query: str, env: dict[str, str], column: int
) -> None:
    watch = f"topics:\n  - id: t\n    {query}"
    root = feeds_only(tmp_path, **{"watchlists/w.yaml": watch})
    [problem] = problems_of(root, {**ENV, **env})
    assert (problem.line, problem.column) == (3, 12)  # where the scalar starts
    assert problem.message.startswith("invalid query: ")
    assert problem.message.endswith(
        f"at column {column} of the query (not exact: the file writes the query with "
        "escapes or it was substituted)"
    )


def test_bad_query_points_at_its_line(tmp_path: Path) -> None:
    watch = "topics:\n  - id: t\n    query: >\n      (Baku OR Paris)\n      AND (France OR\n"
    [problem] = problems_of(feeds_only(tmp_path, **{"watchlists/w.yaml": watch}))
    assert problem.file == str(tmp_path / "watchlists/w.yaml")
    assert problem.key == "topics[0].query"
    assert problem.line == 5  # the unclosed "(" runs to the end, on the block's second line
    assert problem.message.startswith("invalid query:")


# -- everything at once -----------------------------------------------------------


def test_problems_in_several_files_reported_together(tmp_path: Path) -> None:
    settings = "fetch:\n  timeout_seconds: fast\n"
    feeds = (
        "feeds:\n  - url: file:///etc/passwd\n  - url: https://ok.example/rss\n    colour: red\n"
    )
    watch = 'subscriptions:\n  - id: s\n    notify: ["${MISSING}"]\n    topics: [nope]\n'
    root = write(
        tmp_path,
        {"newswatch.yaml": settings, "feeds.yaml": feeds, "watchlists/w.yaml": watch},
    )
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    problems = caught.value.problems
    assert where(problems) == [
        (str(root / "newswatch.yaml"), 2, "fetch.timeout_seconds"),
        (str(root / "feeds.yaml"), 2, "feeds[0].url"),
        (str(root / "feeds.yaml"), 4, "feeds[1].colour"),
        (str(root / "watchlists/w.yaml"), 3, "subscriptions[0].notify[0]"),
        (str(root / "watchlists/w.yaml"), 4, "subscriptions[0].topics[0]"),
    ]
    assert str(caught.value).splitlines() == [str(p) for p in problems]


def test_environment_overrides_database_and_broker(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "newswatch.yaml").write_text("database_url: sqlite:///x.db\n")
    env = {"NEWSWATCH_DATABASE_URL": "postgresql://db/newswatch",
           "NEWSWATCH_BROKER_URL": "redis://redis:6379/0"}
    settings = load_config(tmp_path, env).settings
    assert settings.database_url == "postgresql://db/newswatch"
    assert settings.broker_url == "redis://redis:6379/0"
    assert load_config(tmp_path, {}).settings.database_url == "sqlite:///x.db"


def test_notify_url_apprise_cannot_use_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "w.yaml").write_text(
        "topics:\n  - {id: t, query: x}\nsubscriptions:\n  - id: s\n"
        '    notify: ["console://", "${HOOK}"]\n    topics: [t]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {"HOOK": "nosuch://secret-token@host"})
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (5, "subscriptions[0].notify[1]")
    assert problem.message == "not a notification URL apprise understands (scheme 'nosuch')"
    assert "secret-token" not in str(caught.value)


def test_environment_override_with_a_bad_value_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    assert load_config(tmp_path, {"NEWSWATCH_WEB_PORT": "9100"}).settings.web.port == 9100
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {"NEWSWATCH_WEB_PORT": "ninety"})
    (problem,) = caught.value.problems
    assert (problem.file, problem.key) == ("environment", "NEWSWATCH_WEB_PORT")
    assert problem.message.startswith("not a valid web.port:")
