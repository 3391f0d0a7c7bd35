"""Templated briefs that differ by a name are two stories; copies stay one."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from difflib import SequenceMatcher

from hypothesis import assume, given
from hypothesis import strategies as st

from service.config.models import DedupSettings, FeedConfig
from service.dedup import near_duplicate
from service.domain import Classification, FeedEntry
from service.storage import ArticleStore, Database, FeedStore
from service.stories import DEFAULT_EVENT_THRESHOLD
from service.stories.events import MIN_DOCUMENTS
from service.stories.memory import MemoryIndex
from service.stories.substitution import (
    SHORT_TEXT_WORDS,
    SIMILAR_SPELLING,
    names_substituted,
)
from tests.story_texts import VOCABULARY, sentences

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CREDENTIALS = (
    "On November 28, President of the Republic of Azerbaijan Ilham Aliyev received the "
    "credentials of the newly appointed Ambassador of {country} to Azerbaijan, {envoy}. "
    "The Ambassador conveyed the greetings of the President of {country} to President "
    "Ilham Aliyev. Expressing his gratitude for the greetings, the head of state asked the "
    "Ambassador to convey his greetings to the President of {country}. They discussed the "
    "prospects for bilateral relations between Azerbaijan and {country} and the "
    "cooperation in energy, transport and education."
)
ITALY = CREDENTIALS.format(country="Italy", envoy="Luca Rossi")
FRANCE = CREDENTIALS.format(country="France", envoy="Anne Boillon")


def test_a_brief_from_one_template_naming_another_country_is_another_story() -> None:
    assert names_substituted(ITALY, FRANCE)
    assert names_substituted(FRANCE, ITALY)
    # only the envoy differs: still two audiences, two stories
    assert names_substituted(ITALY, CREDENTIALS.format(country="Italy", envoy="Anne Boillon"))


def test_a_syndicated_copy_of_a_brief_is_not_a_substitution() -> None:
    body = ITALY.split(" Expressing")[0]  # the last sentences dropped
    copy = f"BAKU, Nov 28 (Trend) — {body.replace('Aliyev', 'Aliev')} Follow Trend on X."
    assert not names_substituted(ITALY, copy)
    # a name added, a word changed: an edit, not another story
    edited = ITALY.replace("the newly appointed Ambassador",
                           "the newly appointed Ambassador Extraordinary and Plenipotentiary")
    assert not names_substituted(ITALY, edited.replace("discussed", "reviewed"))
    # a sentence opened differently: its capital is not a name
    assert not names_substituted(ITALY, ITALY.replace("They discussed", "The sides discussed"))


def test_one_name_written_another_way_is_not_a_substitution() -> None:
    """Seen replaying real feeds (rumca): an outlet shortening a surname, a name
    partly changed inside a longer one, a party's initials, a one-letter brand."""
    police = ("Znana aktorka Magdalena Cielecka usłyszała w prokuraturze zarzut za reklamę "
              "wódki na portalu społecznościowym. Może grozić jej grzywna.")
    assert not names_substituted(police, police.replace("Cielecka", "C."))
    game = ("Glen Schofield is leaving after the commercial failure of sci-fi horror The "
            "Callisto Protocol, the studio's first game, which sold poorly.")
    assert not names_substituted(game, game.replace("Protocol", "Project"))
    party = ("Polityczna akcja posłów Prawa i Sprawiedliwości w siedzibie Polskiej Agencji "
             "Prasowej jest próbą terroryzowania dziennikarzy, powiedział minister.")
    assert not names_substituted(party, party.replace("posłów Prawa i Sprawiedliwości",
                                                      "parlamentarzystów PiS"))
    hacked = ("Donald Trump Jr.'s Twitter account was hacked Wednesday morning and flooded "
              "with a series of outlandish posts, his spokesman said.")
    assert not names_substituted(hacked, hacked.replace("Twitter", "X"))
    # the other text names it elsewhere: the same people, told in another order
    epps = ("The acting president of Temple University, JoAnne Epps, died on Tuesday after "
            "becoming ill at a memorial service, the university said.")
    assert not names_substituted(epps, "JoAnne Epps, Temple's acting president, "
                                       + epps.replace("of Temple University", "Epps"))
    puzzle = "Looking for some help with Thursday's Quordle words? Some hints are right here."
    assert names_substituted(puzzle, puzzle.replace("Quordle", "NYT Connections"))


def test_german_capitals_mark_every_noun_so_german_is_left_to_the_shingles() -> None:
    bank = ("Am Donnerstag hat die Zentralbank den Leitzins erneut angehoben, wie eine "
            "Sprecherin in Frankfurt mitteilte. Analysten hatten damit gerechnet.")
    changed = bank.replace("die Zentralbank", "die Notenbank")
    assert names_substituted(bank, changed)  # read as names, language unknown
    assert not names_substituted(bank, changed, ("de", "de"))
    assert not names_substituted(bank, changed, ("de", None))
    assert names_substituted(ITALY, FRANCE, ("en", "en"))


def test_long_texts_and_scripts_without_case_are_left_to_the_shingles() -> None:
    filler = " ".join(f"The committee met {w} officials on the matter." for w in
                      VOCABULARY[:SHORT_TEXT_WORDS // 7 + 1])
    assert names_substituted(ITALY, FRANCE)
    assert not names_substituted(filler + ITALY, filler + FRANCE)
    assert not names_substituted("外交部长 王毅 会见 意大利 大使。" + ITALY,
                                 "外交部长 王毅 会见 法国 大使。" + FRANCE)


NAMES = st.sampled_from([w.capitalize() for w in VOCABULARY[1::10]])


@given(NAMES, NAMES, st.sampled_from(VOCABULARY[2::10]))
def test_briefs_stay_apart_and_their_copies_join_whatever_the_names(
    one: str, other: str, outlet: str,
) -> None:
    """MemoryIndex: the same steps as the database index, in one process."""
    # two names spelled alike ("Bakada", "Bakade") are one name written two ways
    assume(one == other or SequenceMatcher(None, one, other).ratio() < SIMILAR_SPELLING)
    index = MemoryIndex()
    first = index.add("agency", f"Ambassador of {one} presents credentials",
                      CREDENTIALS.format(country=one, envoy="Luca Rossi"))
    second = index.add("agency", f"Ambassador of {other} presents credentials",
                       CREDENTIALS.format(country=other, envoy="Luca Rossi"))
    assert (first == second) == (one == other)
    copy = f"BAKU ({outlet.upper()}) — " + CREDENTIALS.format(country=other, envoy="Luca Rossi")
    assert index.add(outlet, f"{other} envoy meets Aliyev", copy) == second


def _feed(database: Database, name: str) -> int:
    url = f"https://{name}.example/feed"
    return FeedStore(database).sync([FeedConfig(url=url, name=name)], NOW)[url].id


def _story(database: Database, feed: str, guid: str, title: str, text: str) -> tuple[int, int]:
    """Store and process one article: (its story, the alerts it created)."""
    articles = ArticleStore(database)
    entry = FeedEntry(guid=guid, url=None, title=title, summary="", content=text, published=NOW)
    (article_id,) = articles.add_entries(_feed(database, feed), [entry], NOW)
    assert articles.begin_attempt(article_id) is not None
    outcome = articles.commit_processed(
        article_id, story_keys=[], classification=Classification(()),
        subscription_ids=["aliyev-watch"], now=NOW,
        near=near_duplicate(DedupSettings(), title, text, NOW),
    )
    assert outcome is not None
    return outcome.story_id, outcome.alerts_created


def test_each_brief_alerts_and_a_copy_of_one_does_not(database: Database) -> None:
    italy = _story(database, "azertac", "1", "Ambassador of Italy presents credentials", ITALY)
    france = _story(database, "azertac", "2", "Ambassador of France presents credentials",
                    FRANCE)
    assert italy[0] != france[0] and (italy[1], france[1]) == (1, 1)
    copy = _story(database, "trend", "t1", "French envoy meets Aliyev",
                  f"BAKU, Nov 28 (Trend) — {FRANCE}\nFollow Trend on X.")
    assert copy == (france[0], 0)


def test_the_same_event_path_keeps_briefs_apart_too() -> None:
    """Same-event matching (opt-in) would otherwise join what the near-copy check
    kept apart: the briefs share every salient term but the names."""
    index = MemoryIndex(event_threshold=DEFAULT_EVENT_THRESHOLD)
    rng = random.Random(3)
    for i in range(MIN_DOCUMENTS + 10):  # document frequencies for the TF-IDF vectors
        index.add(f"outlet{i % 5}", sentences(rng.sample(VOCABULARY, 6)),
                  sentences(rng.sample(VOCABULARY, 80)))
    italy = index.add("azertac", "Ambassador of Italy presents credentials", ITALY)
    france = index.add("azertac", "Ambassador of France presents credentials", FRANCE)
    assert italy != france
    reworded = index.add("trend", "France's new envoy at the palace",
                         "In Baku, " + FRANCE.replace("greetings", "warm wishes"))
    assert reworded == france
