"""The classifier on the seed article and on French, Azerbaijani and Russian examples."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from service.config.models import Watchlists
from service.domain import Classification, Document
from service.errors import ConfigError, QuerySyntaxError
from service.matching import Classifier, compile_watchlists
from tests.conftest import ROOT, SHARED

SEED = SHARED / "seed" / "azernews-pardon.txt"

WATCHLIST = """
entities:
  - {id: ilham-aliyev, name: Ilham Aliyev, aliases: ["Aliyev", "İlham Əliyev", "Əliyev*", "Алиев*"]}
  - {id: emmanuel-macron, name: Emmanuel Macron, aliases: ["Macron", "Макрон*"]}
  - {id: theo-clerc, name: Théo Clerc, aliases: ["Teo Klerk*", "Тео Клерк*"]}
events:
  - id: pardon
    triggers: ["pardon*", "clemency", "amnesty", "grâce*", "gracié*", "əfv*", "помилова*"]
topics:
  - id: azerbaijan-france
    query: >
      (Azerbaijan* OR Baku OR Aliyev OR Azərbaycan* OR Bakou OR Азербайджан*)
      AND (France OR French OR Paris OR Macron OR Fransa* OR français* OR Франц*)
      AND NOT (football OR "Grand Prix")
"""


def compile_yaml(text: str) -> Classifier:
    return compile_watchlists(Watchlists.model_validate(yaml.safe_load(text)))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return compile_yaml(WATCHLIST)


def classify(classifier: Classifier, content: str, title: str = "") -> Classification:
    return classifier.classify(Document(title=title, summary="", content=content))


def test_seed_article(classifier: Classifier) -> None:
    title, _, content = SEED.read_text(encoding="utf-8").partition("\n")
    result = classifier.classify(Document(title=title, summary="", content=content))
    assert result.ids("topic") == {"azerbaijan-france"}
    assert result.ids("entity") == {"ilham-aliyev", "emmanuel-macron", "theo-clerc"}
    assert result.ids("event") == {"pardon"}
    pardon = result.get("event", "pardon")
    assert pardon is not None
    assert pardon.participants == ("ilham-aliyev", "theo-clerc")
    assert pardon.evidence[0].marked() == (
        "On May 27, **Aliyev** **pardoned** French national **Théo Clerc**, who had been "
        "convicted of hooliganism for spray-painting graffiti on a Baku metro train in March 2024."
    )
    topic = result.get("topic", "azerbaijan-france")
    assert topic is not None
    assert topic.evidence[0].field == "title"
    assert topic.evidence[0].marked() == (
        "Pardon of **French** national signals thaw in **Azerbaijan**–**France** relations [VIDEO]"
    )
    assert all(len(m.evidence) <= 3 for m in result.matches)


def test_entity_evidence_marks_the_longest_name_once(classifier: Classifier) -> None:
    result = classify(classifier, "Talks went on. President Ilham Aliyev spoke. Aliyev left.")
    match = result.get("entity", "ilham-aliyev")
    assert match is not None
    assert [e.marked() for e in match.evidence] == [
        "President **Ilham Aliyev** spoke.",
        "**Aliyev** left.",
    ]
    assert match.evidence[0].spans == ((10, 22),)


@pytest.mark.parametrize(
    ("content", "entity"),
    [
        ("Prezident Əliyevin sərəncamı", "ilham-aliyev"),
        ("İLHAM ƏLİYEV bəyan edib", "ilham-aliyev"),
        ("Президент Алиева встретил", "ilham-aliyev"),
        ("THÉO CLERC est libre", "theo-clerc"),
        ("Theo Clerc est libre", "theo-clerc"),
        ("Тео Клерка помиловали", "theo-clerc"),
        ("Teo Klerkin əfvi", "theo-clerc"),
        ("Macron's visit", "emmanuel-macron"),
        ("с Макроном", "emmanuel-macron"),
    ],
)
def test_entities_in_many_languages(classifier: Classifier, content: str, entity: str) -> None:
    assert classify(classifier, content).ids("entity") == {entity}


@pytest.mark.parametrize(
    "content",
    [
        "Clerc a été libéré",  # Clerc alone is not Théo Clerc
        "Theodore Clerc spoke",
        "Aliyeva is a different word without the star",  # "Aliyev" has no star
        "Macronomics is no name",
    ],
)
def test_whole_words_only(content: str) -> None:
    only_exact = compile_yaml(
        """
entities:
  - {id: theo-clerc, name: Théo Clerc}
  - {id: ilham-aliyev, name: Ilham Aliyev, aliases: [Aliyev]}
  - {id: emmanuel-macron, name: Emmanuel Macron, aliases: [Macron]}
"""
    )
    assert classify(only_exact, content).ids("entity") == frozenset()


def test_exclude_phrase_hides_the_alias_it_covers() -> None:
    classifier = compile_yaml(
        """
entities:
  - {id: theo-clerc, name: Théo Clerc, aliases: [Clerc], exclude: [Julien Clerc]}
"""
    )
    assert classify(classifier, "Julien Clerc chante à Paris.").ids("entity") == frozenset()
    result = classify(classifier, "Julien Clerc chante. Clerc est libre.")
    match = result.get("entity", "theo-clerc")
    assert match is not None
    assert [e.sentence for e in match.evidence] == ["Clerc est libre."]


@pytest.mark.parametrize(
    ("content", "participants"),
    [
        ("Əliyev Teo Klerki əfv edib.", ("ilham-aliyev", "theo-clerc")),
        ("Алиев помиловал Тео Клерка.", ("ilham-aliyev", "theo-clerc")),
        ("Théo Clerc a été gracié par le président.", ("theo-clerc",)),
        ("Macron salue la grâce accordée.", ("emmanuel-macron",)),
        ("Aliyev granted clemency.", ("ilham-aliyev",)),
    ],
)
def test_event_in_many_languages(
    classifier: Classifier, content: str, participants: tuple[str, ...]
) -> None:
    match = classify(classifier, content).get("event", "pardon")
    assert match is not None
    assert match.participants == participants


def test_event_needs_an_entity_in_the_same_sentence(classifier: Classifier) -> None:
    assert classify(classifier, "Ten prisoners were pardoned today.").ids("event") == frozenset()
    text = "Macron met Aliyev in Tirana.\nThe pardon came later. Nobody else was pardoned."
    assert classify(classifier, text).ids("event") == frozenset()


def test_event_window_counts_words_across_sentences() -> None:
    classifier = compile_yaml(
        """
entities:
  - {id: ilham-aliyev, name: Ilham Aliyev, aliases: [Aliyev]}
events:
  - {id: pardon, triggers: ["pardon*"], window: 4}
"""
    )
    near = classify(classifier, "Aliyev spoke. Then a pardon followed.")  # 4 words apart
    assert near.get("event", "pardon") is not None
    far = classify(classifier, "Aliyev spoke at length. Then came a pardon.")
    assert far.ids("event") == frozenset()
    evidence = near.get("event", "pardon")
    assert evidence is not None
    assert evidence.evidence[0].marked() == "**Aliyev** spoke. Then a **pardon** followed."


def test_a_trigger_inside_an_entity_name_is_not_an_event() -> None:
    classifier = compile_yaml(
        """
entities:
  - {id: amnesty, name: Amnesty International}
events:
  - {id: pardon, triggers: [amnesty]}
"""
    )
    result = classify(classifier, "Amnesty International published a report.")
    assert result.ids("entity") == {"amnesty"}
    assert result.ids("event") == frozenset()


@pytest.mark.parametrize(
    ("title", "content", "matches"),
    [
        ("Bakou et Paris", "", True),
        ("", "Azərbaycan və Fransa arasında danışıqlar", True),
        ("", "Азербайджан и Франция", True),
        ("", "Азербайджана и Франции", True),
        ("Baku Grand Prix", "French drivers in Baku", False),
        ("", "Azerbaijan and Frances", False),  # France is a whole word
        ("", "Azerbaijan football and France", False),
        ("", "Baku alone", False),
    ],
)
def test_topic(classifier: Classifier, title: str, content: str, matches: bool) -> None:
    result = classifier.classify(Document(title=title, summary="", content=content))
    assert ("azerbaijan-france" in result.ids("topic")) is matches


def test_prefix_trigger_matches_any_ending_by_contract(classifier: Classifier) -> None:
    match = classify(classifier, "Aliyev called it pardonnable.").get("event", "pardon")
    assert match is not None
    assert match.evidence[0].marked() == "**Aliyev** called it **pardonnable**."


def test_title_only_topic_and_empty_document() -> None:
    classifier = compile_yaml(
        """
topics:
  - {id: baku, name: Baku news, query: "title:Baku"}
"""
    )
    assert classifier.classify(Document("Baku today", "", "")).ids("topic") == {"baku"}
    assert classifier.classify(Document("Today", "", "In Baku")).ids("topic") == frozenset()
    assert classifier.classify(Document("", "", "")) == Classification()
    match = classifier.classify(Document("Baku today", "", "")).get("topic", "baku")
    assert match is not None and match.name == "Baku news"


def test_bad_query_raises_query_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_yaml("topics:\n  - {id: t, query: 'Baku AND (Paris'}\n")
    assert caught.value.column == 16
    assert str(caught.value).startswith("topics[t].query: unexpected end")


def test_alias_without_letters_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        compile_yaml("entities:\n  - {id: e, name: Someone, aliases: ['***']}\n")
    assert caught.value.problems[0].key == "entities[e].aliases"


def test_a_hundred_terms_in_one_automaton() -> None:
    entities = [
        {"id": f"e{i}", "name": f"Person{i} Surname{i}", "aliases": [f"Surname{i}*"]}
        for i in range(60)
    ]
    events = [{"id": f"ev{i}", "triggers": [f"trigger{i}*", f"act{i}"]} for i in range(10)]
    topics = [{"id": f"t{i}", "query": f"(word{i} OR other{i}*) AND NOT bad{i}"} for i in range(10)]
    classifier = compile_watchlists(
        Watchlists.model_validate({"entities": entities, "events": events, "topics": topics})
    )
    sentence = "Surname3 met Person7 Surname7 and spoke of trigger2ed word4 in the capital. "
    doc = Document("Surname1 and word1", "", (sentence * 40)[:3000])
    result = classifier.classify(doc)
    assert result.ids("event") == {"ev2"}
    assert {"e1", "e3", "e7"} <= result.ids("entity")
    assert result.ids("topic") == {"t1", "t4"}


ACCENTS = ["", "\u0301", "\u0300", "\u0308"]


@given(st.data())
def test_a_match_survives_changes_of_case_and_accents(data: st.DataObject) -> None:
    classifier = compile_yaml(WATCHLIST)

    def vary(text: str) -> str:
        out = []
        for char in text:
            char = data.draw(st.sampled_from([char, char.upper(), char.lower()]))
            accent = data.draw(st.sampled_from(ACCENTS)) if char.isalpha() else ""
            out.append(char + accent)
        return unicodedata.normalize(data.draw(st.sampled_from(["NFC", "NFD"])), "".join(out))

    result = classify(classifier, f"{vary('Aliyev pardoned')} {vary('Theo Clerc')}.")
    assert result.ids("entity") == {"ilham-aliyev", "theo-clerc"}
    pardon = result.get("event", "pardon")
    assert pardon is not None and pardon.participants == ("ilham-aliyev", "theo-clerc")


def _check_config(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "check-config", str(directory)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(directory)},
    )  # fmt: skip


def test_check_config_summarises_with_the_automatons_term_count() -> None:
    result = _check_config(ROOT / "tests" / "data" / "pardon_desk")
    assert result.returncode == 0, result.stderr
    assert "entities: 6\n  events: 1\n  topics: 1\n  subscriptions: 1" in result.stderr
    assert "terms in the automaton: 34" in result.stderr


def test_check_config_names_file_line_and_column_of_bad_terms_and_queries(
    tmp_path: Path,
) -> None:
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "watchlists" / "w.yaml").write_text(
        "entities:\n"
        "  - id: e\n"
        "    name: Someone\n"
        "    aliases: [ok, '***']\n"
        "topics:\n"
        "  - id: t\n"
        "    query: >\n"
        "      (Baku OR Paris)\n"
        "      AND (Macron\n"
    )
    result = _check_config(tmp_path)
    assert result.returncode == 2
    file = tmp_path / "watchlists" / "w.yaml"
    assert f"{file}:4: entities[0].aliases[1]: '*' may only end a term: '***'" in result.stderr
    # the file line and column just after "Macron", where the query ends unclosed
    assert f"{file}:9:18: topics[0].query: invalid query: unexpected end" in result.stderr


@pytest.mark.parametrize(
    ("query", "where", "note"),
    [
        ("'Baku OR (Paris'", "3:27", False),  # unclosed: just after the query's end
        ('"Baku AND @"', "3:22", False),  # the "@"
        ('"Baku\\t AND @"', "3:12", True),  # an escape: the query's start, and it says so
    ],
)
def test_check_config_names_the_file_column_of_a_query_error(
    tmp_path: Path, query: str, where: str, note: bool
) -> None:
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "watchlists" / "w.yaml").write_text(f"topics:\n  - id: t\n    query: {query}\n")
    result = _check_config(tmp_path)
    assert result.returncode == 2
    [line] = [line.strip() for line in result.stderr.splitlines() if "topics[0]." in line]
    file = tmp_path / "watchlists" / "w.yaml"
    assert line.startswith(f"{file}:{where}: topics[0].query: invalid query: ")
    assert ("(not exact:" in line) == note


def test_a_decision_quotes_on_demand_what_classify_quotes(classifier: Classifier) -> None:
    title, _, content = SEED.read_text(encoding="utf-8").partition("\n")
    document = Document(title=title, summary="", content=content)
    decision = classifier.decide(document)
    full = classifier.classify(document)
    assert [(m.kind, m.id, m.participants) for m in decision.matches] == [
        (m.kind, m.id, m.participants) for m in full.matches
    ]
    assert all(m.evidence == () for m in decision.bare.matches)  # routing needs none
    pardon = [m for m in decision.matches if m.id == "pardon"]
    assert decision.quoted(pardon) == (full.get("event", "pardon"),)
    assert decision.classification() == full
