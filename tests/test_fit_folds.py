"""The same-event fit's folds are drawn by article (benchmarks/fit_event_model.py).

SemEval pairs share articles; a fold holding one pair of an article while
the model trains on another pair of the same article scores text it has
seen, and the out-of-fold precision that picks the default probability
comes out too high.
"""

from __future__ import annotations

import numpy as np

from benchmarks.bench_dedup import Scored
from benchmarks.fit_event_model import FOLDS, article_groups, grouped_folds


def _pair(one: str, two: str) -> Scored:
    return Scored("en-en", True, False, True, False, 0.5, 0.5, 0.5, 0.0, (one, two))


def test_pairs_linked_by_an_article_share_a_group_and_others_do_not() -> None:
    pairs = [_pair("a", "b"), _pair("c", "d"), _pair("b", "e"), _pair("e", "f"), _pair("g", "h")]
    groups = article_groups(pairs).tolist()
    assert groups[0] == groups[2] == groups[3]  # a-b, b-e, e-f: one chain
    assert len({groups[0], groups[1], groups[4]}) == 3


def test_no_article_sits_on_both_sides_of_any_fold() -> None:
    rng = np.random.default_rng(5)
    pairs = [_pair(f"x{rng.integers(60)}", f"x{rng.integers(60)}") for _ in range(80)]
    groups = article_groups(pairs)
    for seed in range(5):
        folds = grouped_folds(groups, seed)
        assert set(folds.tolist()) <= set(range(FOLDS))
        fold_of_article: dict[str, int] = {}
        for pair, fold in zip(pairs, folds.tolist(), strict=True):
            for article in pair.ids:
                assert fold_of_article.setdefault(article, fold) == fold
