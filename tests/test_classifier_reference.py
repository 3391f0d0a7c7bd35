"""The classifier's fast paths against a plain reading of the semantics, on real news.

Speed work (folding in bulk, one automaton pass, sentences read line by
line, evidence on demand) must not change what matches: every matched
topic, entity and event, its participants and its evidence must equal
:mod:`tests.reference_classifier`'s, article by article, for the pardon desk
and for a watchlist drawn from the corpus itself (names with ``*`` aliases
and excludes, ``*`` and common-word triggers with and without a window,
queries with phrases, prefixes, proximity, field prefixes and NOT).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from service.backtest import BacktestArticle, read_input_file
from service.config import load_config
from service.config.models import Watchlists
from service.domain import Document, Match
from service.matching import compile_watchlists
from tests import reference_classifier
from tests.conftest import ROOT, SHARED

CORPUS = SHARED / "corpora/topic_azerbaijan_france"
FILES = ("pardon_clemency", "caucasus")
COMMON = ["president", "government", "minister", "court", "police", "talks", "war", "visit"]
_NAME_RE = re.compile(r"\b([A-Z][a-z]{2,}(?: [A-Z][a-z]{2,}){1,2})\b")
_STEM_RE = re.compile(r"\b[a-z]{9,}\b")
_PHRASE_RE = re.compile(r"\b[a-z]{4,} [a-z]{5,}\b")


def _articles(name: str) -> list[BacktestArticle]:
    return read_input_file(Path(CORPUS / f"rumca_rss_entries_2023_{name}.json"))


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    docs = [a.document for name in FILES for a in _articles(name)]
    assert len(docs) > 500
    return docs


def _ranked(found: list[str], count: int) -> list[str]:
    return [text for text, _ in Counter(found).most_common(count)]


def corpus_watchlists(docs: list[Document]) -> Watchlists:
    """Entities, events and topics built from the words of ``docs`` (so many of them match)."""
    texts = [f"{d.title}\n{d.summary}\n{d.content}" for d in docs]
    names = _ranked([m for t in texts for m in _NAME_RE.findall(t)], 120)
    stems = _ranked([w[:-3] for t in texts for w in _STEM_RE.findall(t)], 40)[::2]
    phrases = _ranked([p for t in texts for p in _PHRASE_RE.findall(t)], 60)
    entities: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        entity: dict[str, Any] = {"id": f"e{i}", "name": name}
        if i % 3 == 0:
            entity["aliases"] = [name.split()[-1] + ("*" if i % 2 else "")]
        if i % 9 == 0:
            entity["exclude"] = [f"{names[(i + 1) % len(names)].split()[0]} {name.split()[-1]}"]
        entities.append(entity)
    triggers = [*COMMON, *(s + "*" for s in stems)]
    events = [
        {"id": f"ev{i}", "triggers": triggers[i::6], **({"window": 8} if i % 3 == 0 else {})}
        for i in range(6)
    ]
    queries = [
        f'"{phrases[0]}" OR "{phrases[1]}"',
        f'({stems[0]}* OR {stems[1]}*) AND NOT "{phrases[2]}"',
        f'"{names[0]} {COMMON[0]}"~5 OR title:{COMMON[3]}',
        f'"{phrases[3]}" AND text:({COMMON[1]} OR {COMMON[2]})',
        f'{names[1].split()[-1]} AND ({COMMON[4]} OR "{phrases[4]}") AND NOT {COMMON[5]}',
        f"NOT {COMMON[6]}",
    ]
    topics = [{"id": f"t{i}", "query": q} for i, q in enumerate(queries)]
    return Watchlists.model_validate({"entities": entities, "events": events, "topics": topics})


def _compare(watchlists: Watchlists, docs: list[Document]) -> Counter[str]:
    """How many matches of each kind the classifier and the reference both found (they must
    agree on every document)."""
    classifier = compile_watchlists(watchlists)
    kinds: Counter[str] = Counter()
    for doc in docs:
        expected = reference_classifier.classify(watchlists, doc)
        assert classifier.classify(doc) == expected, doc.title
        bare = tuple(Match(m.kind, m.id, m.name, (), m.participants) for m in expected.matches)
        assert classifier.decide(doc).bare.matches == bare
        kinds.update(m.kind for m in expected.matches)
    return kinds


def test_corpus_watchlist_matches_and_quotes_as_the_reference(documents: list[Document]) -> None:
    kinds = _compare(corpus_watchlists(documents), documents)
    assert min(kinds["topic"], kinds["entity"], kinds["event"]) > 100  # every kind compared


def test_pardon_desk_matches_and_quotes_as_the_reference(documents: list[Document]) -> None:
    config = load_config(ROOT / "tests" / "data" / "pardon_desk", os.environ)
    kinds = _compare(config.watchlists, documents)
    assert min(kinds["entity"], kinds["event"]) > 20
