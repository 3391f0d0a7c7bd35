"""Scripts written without spaces (Han, Kana, Thai, Lao, Khmer, Myanmar): a term matches
inside a longer run of their letters; every other script keeps whole-word matching."""

from __future__ import annotations

import pytest
import yaml

from service.config.models import Watchlists
from service.domain import Document
from service.matching import Classifier, compile_watchlists
from service.text.normalize import words

WATCHLIST = """
entities:
  - {id: xi, name: 习近平}
  - {id: macron, name: Emmanuel Macron, aliases: [Macron, Макрон, 马克龙, マクロン, มาครง]}
  - {id: kishida, name: 岸田文雄, aliases: [岸田]}
  - {id: prayut, name: ประยุทธ์}
  - {id: hun-sen, name: ហ៊ុន សែន}
  - {id: seoul, name: 서울}
events:
  - id: meeting
    triggers: [会见, 会談, เยือน, met]
topics:
  - id: tokyo
    query: 東京 AND (タワー OR 首相)
"""


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return compile_watchlists(Watchlists.model_validate(yaml.safe_load(WATCHLIST)))


CASES = [
    # (language, text, entities, events, topics)
    ("zh", "国家主席习近平在北京会见法国总统马克龙。", {"xi", "macron"}, {"meeting"}, set()),
    ("zh", "习近平的讲话", {"xi"}, set(), set()),
    ("ja", "岸田文雄首相はマクロン大統領と東京で会談した。", {"kishida", "macron"}, {"meeting"},
     {"tokyo"}),
    ("ja", "岸田氏は東京タワーを訪れた。", {"kishida"}, set(), {"tokyo"}),
    ("th", "พลเอกประยุทธ์เดินทางเยือนฝรั่งเศสและพบมาครง", {"prayut", "macron"}, {"meeting"},
     set()),
    ("km", "លោកហ៊ុន សែនបានមកដល់", {"hun-sen"}, set(), set()),
    # Scripts with spaces keep whole words, next to unspaced text too.
    ("en", "The Macronist camp met in Paris.", set(), set(), set()),
    ("en", "Macron发表讲话", {"macron"}, set(), set()),
    ("ru", "Макронов нет, есть Макрон.", {"macron"}, set(), set()),
    ("ko", "서울에서 만났다", set(), set(), set()),  # Hangul is written with spaces
    ("ko", "서울 시장", {"seoul"}, set(), set()),
]  # fmt: skip


@pytest.mark.parametrize(("language", "text", "entities", "events", "topics"), CASES)
def test_terms_in_unspaced_scripts_match_inside_runs(
    classifier: Classifier,
    language: str,
    text: str,
    entities: set[str],
    events: set[str],
    topics: set[str],
) -> None:
    result = classifier.classify(Document(title="", summary="", content=text))
    assert result.ids("entity") == entities, language
    assert result.ids("event") == events, language
    assert result.ids("topic") == topics, language


MARKED = [
    ("国家主席习近平在北京会见法国总统马克龙。", "event", "meeting",
     "国家主席**习近平**在北京**会见**法国总统**马克龙**。"),
    ("岸田文雄首相はマクロン大統領と会談した。", "entity", "kishida",
     "**岸田文雄**首相はマクロン大統領と会談した。"),
    ("พลเอกประยุทธ์เดินทางเยือนฝรั่งเศส", "entity", "prayut",
     "พลเอก**ประยุทธ์**เดินทางเยือนฝรั่งเศส"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "ident", "marked"), MARKED)
def test_evidence_marks_the_term_inside_the_run(
    classifier: Classifier, text: str, kind: str, ident: str, marked: str
) -> None:
    result = classifier.classify(Document(title="", summary="", content=text))
    match = result.get(kind, ident)  # type: ignore[arg-type]
    assert match is not None
    assert match.evidence[0].marked() == marked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("北京2024年", ["北", "京", "2024", "年"]),
        ("ประยุทธ์", ["ป", "ร", "ะ", "ยุ", "ท", "ธ์"]),  # a letter keeps its vowel signs
        ("東京タワー", ["東", "京", "タ", "ワ", "ー"]),
        ("ｶﾀｶﾅ", ["カ", "タ", "カ", "ナ"]),  # halfwidth Katakana folded by NFKC
        ("Théo Clerc", ["theo", "clerc"]),
        ("서울에서", ["서울에서"]),
    ],
)
def test_unspaced_letters_are_words_of_their_own(text: str, expected: list[str]) -> None:
    assert words(text) == expected
