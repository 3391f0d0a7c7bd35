"""The pardon desk's watchlist against hand labels of real 2023 news entries.

tests/data/pardon_labels.yaml labels a sample of the shared pardon corpus
(presidential pardons, wire copies of them, hypothetical and refused pardons,
and false friends such as the White House turkey pardon), one line of
rationale each. The watchlist in tests/data/pardon_desk/ must agree with every
label except the ones marked ``known_error`` (each says why keywords cannot
get it right), and with those it must disagree: a fix or a regression both
show up here.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from service.backtest import BacktestArticle, read_input_file
from service.config import load_config
from service.matching import compile_watchlists
from service.routing import route
from tests.conftest import ROOT, SHARED

CORPUS = SHARED / "corpora/topic_azerbaijan_france/rumca_rss_entries_2023_pardon_clemency.json"
DESK = ROOT / "tests" / "data" / "pardon_desk"
LABELS = ROOT / "tests" / "data" / "pardon_labels.yaml"
SUBSCRIPTION = "leader-pardons"


@pytest.fixture(scope="module")
def labels() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = yaml.safe_load(LABELS.read_text(encoding="utf-8"))["labels"]
    return items


@pytest.fixture(scope="module")
def articles() -> dict[str, BacktestArticle]:
    return {a.url or "": a for a in read_input_file(CORPUS)}


@pytest.fixture(scope="module")
def alerted(
    labels: list[dict[str, Any]], articles: dict[str, BacktestArticle]
) -> dict[str, bool]:
    config = load_config(DESK, os.environ)
    classifier = compile_watchlists(config.watchlists)
    subscriptions = config.watchlists.subscriptions
    return {
        label["link"]: SUBSCRIPTION
        in route(subscriptions, classifier.classify(articles[label["link"]].document))
        for label in labels
    }


def test_labels_are_complete_and_name_corpus_entries(
    labels: list[dict[str, Any]], articles: dict[str, BacktestArticle]
) -> None:
    assert len(labels) >= 50
    assert len({label["link"] for label in labels}) == len(labels)
    for label in labels:
        assert label["link"] in articles, label["link"]
        assert isinstance(label["alert"], bool)
        assert label["why"].strip()
    assert sum(label["alert"] for label in labels) >= 15  # positives and negatives both


def test_watchlist_agrees_with_every_label_but_the_known_errors(
    labels: list[dict[str, Any]], alerted: dict[str, bool]
) -> None:
    disagreements = {label["link"] for label in labels if alerted[label["link"]] != label["alert"]}
    known = {label["link"] for label in labels if "known_error" in label}
    assert disagreements == known


def test_precision_and_recall_on_the_sample(
    labels: list[dict[str, Any]], alerted: dict[str, bool]
) -> None:
    true_positives = sum(alerted[x["link"]] and x["alert"] for x in labels)
    predicted = sum(alerted[x["link"]] for x in labels)
    actual = sum(x["alert"] for x in labels)
    assert true_positives / predicted >= 0.8
    assert true_positives / actual >= 0.8


def test_no_turkey_pardon_alerts(labels: list[dict[str, Any]], alerted: dict[str, bool]) -> None:
    turkeys = [x["link"] for x in labels if "turkey" in x["why"]]
    assert len(turkeys) >= 7
    assert not any(alerted[link] for link in turkeys)


def test_a_true_pardon_carries_its_participant_and_marked_sentence(
    articles: dict[str, BacktestArticle],
) -> None:
    config = load_config(DESK, os.environ)
    link = (
        "https://www.aljazeera.com/news/2023/8/19/"
        "egypts-president-al-sisi-pardons-activist-douma-other-prisoners"
    )
    result = compile_watchlists(config.watchlists).classify(articles[link].document)
    pardon = result.get("event", "pardon")
    assert pardon is not None
    assert pardon.participants == ("abdel-fattah-el-sisi",)
    assert pardon.evidence[0].field == "title"
    assert "**pardons**" in pardon.evidence[0].marked()
    assert "**el-Sisi**" in pardon.evidence[0].marked()


def test_polish_pardon_by_lukashenko_is_found(articles: dict[str, BacktestArticle]) -> None:
    config = load_config(DESK, os.environ)
    polish = next(a for a in articles.values() if a.url and "lukaszenka-ulaskawil" in a.url)
    pardon = compile_watchlists(config.watchlists).classify(polish.document).get("event", "pardon")
    assert pardon is not None and pardon.participants == ("alexander-lukashenko",)

