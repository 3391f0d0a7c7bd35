"""Fit the same-event decisions on SemEval 2022 task 8's training pairs.

    .venv/bin/pip install -e '.[embeddings]'
    .venv/bin/python benchmarks/fit_event_model.py [--embedding-cache FILE.npz]

Pairs in one language whose texts share MIN_SHARED salient terms, or (with
embeddings) a band of their embeddings (the candidates the service compares),
are the examples: same story (Overall <=
1.5) or not (>= 3.5). Precision and recall are over all pairs in one
language, the non-candidates and pairs below the service's text cosine floor
counted as "different", copies as "same".

- With embeddings: first the centre the service takes embeddings from (the
  mean raw embedding of the training articles, service/stories/embedding_centre.npy,
  see service.stories.embedding);
  then features are the cosine of the two sentence embeddings, of the two
  TF-IDF text vectors, and log(1 + days apart) (up to DAYS_CAP). A logistic
  regression (Newton's method, a little L2, features standardised, weights
  then given back on the raw scale) is fitted. Folds are drawn by article:
  pairs sharing an article (transitively) fall in one fold, so no article
  sits on both sides; REPEATS draws of FOLDS folds give each candidate an
  averaged out-of-fold probability, and the default probability is the
  lowest at which the training pairs' out-of-fold precision reaches
  EMBEDDINGS_PRECISION (and stays there above it). Nested cross-validation
  then scores that whole procedure (model and probability chosen on four
  folds, the fifth judged): the estimate to expect on pairs never seen.
- Lexical: the time penalty (TIME_PENALTY x log(1 + days) off the score) is
  the ratio of the two weights of a logistic regression over the candidates'
  score and log(1 + days) (the slope of its decision line); the threshold is
  the lowest (in steps of 0.01) whose in-sample precision reaches PRECISION
  there and at the next STABLE steps up (precision hovers around 0.95 from
  0.10 to 0.24: a stable point, not a lucky dip). A grid over both values
  together overfitted: its best threshold fell under the text cosine floor.

Only the training split is read. Prints the fitted block of
service/stories/event_model.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_dedup import (
    RawEmbeddings,
    Scored,
    Tally,
    _monolingual,
    score_split,
    semeval_texts,
    title_and_text,
)
from service.stories import embedding
from service.stories.event_model import TIME_PENALTY
from service.stories.events import MIN_EMBEDDING_TEXT_COSINE, MIN_TEXT_COSINE

PRECISION = 0.95
# the embeddings' probability: the lowest whose out-of-fold precision on training reaches
# this at every step above it. 0.95 would do by the nested estimate alone (it kept 0.952
# on folds it never saw) but its probability (0.59) merges the peace talks with the
# offensive they were about (tests/test_stories_embeddings.py, model 0.67 there); 0.955
# (0.70) keeps them apart: the lowest level that does both (benchmarks/README.md)
EMBEDDINGS_PRECISION = 0.955
STABLE = 3
FOLDS = 5
REPEATS = 10  # grouped fold draws whose out-of-fold probabilities are averaged
L2 = 1.0
Matrix = npt.NDArray[np.float64]


def fit(features: Matrix, labels: Matrix) -> Matrix:
    """Logistic regression weights (the intercept last) by Newton's method."""
    x = np.hstack([features, np.ones((len(features), 1))])
    weights = np.zeros(x.shape[1])
    penalty = L2 * np.diag([*([1.0] * features.shape[1]), 0.0])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ weights))
        gradient = x.T @ (p - labels) + penalty @ weights
        hessian = (x.T * (p * (1 - p))) @ x + penalty
        weights = weights - np.linalg.solve(hessian, gradient)
    return weights


def probabilities(weights: Matrix, features: Matrix) -> Matrix:
    logits: Matrix = features @ weights[:-1] + weights[-1]
    return 1 / (1 + np.exp(-logits))


def standardised_fit(features: Matrix, labels: Matrix) -> Matrix:
    """Fit on standardised features; weights for the raw features."""
    mean, scale = features.mean(0), features.std(0)
    weights = fit((features - mean) / scale, labels)
    raw = weights[:-1] / scale
    return np.array([*raw, weights[-1] - float(raw @ mean)])


def fit_centre(name: str, embedder: RawEmbeddings) -> None:
    """Write the mean raw embedding of the split's articles (``embedding.CENTRE``)."""
    raw = [embedder.raw_embedding(*title_and_text(t)) for t in semeval_texts(name)]
    np.save(embedding.CENTRE, np.mean(raw, axis=0).astype(np.float32))
    embedding.centre.cache_clear()


def article_groups(pairs: list[Scored]) -> npt.NDArray[np.int64]:
    """Each pair's group: pairs linked by a shared article (transitively) share one, so a
    fold never has an article on both sides."""
    parent: dict[str, str] = {}

    def root(article: str) -> str:
        while parent.setdefault(article, article) != article:
            parent[article] = parent[parent[article]]  # halve the path
            article = parent[article]
        return article

    for s in pairs:
        parent[root(s.ids[0])] = root(s.ids[1])
    numbers: dict[str, int] = {}
    return np.array([numbers.setdefault(root(s.ids[0]), len(numbers)) for s in pairs])


def grouped_folds(groups: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.int64]:
    """A fold (0..FOLDS-1) per pair, drawn per group."""
    distinct = np.unique(groups)
    drawn = np.random.default_rng(seed).permutation(len(distinct)) % FOLDS
    return drawn[np.searchsorted(distinct, groups)]


def out_of_fold(features: Matrix, labels: Matrix, groups: npt.NDArray[np.int64]) -> Matrix:
    """Each example's probability from models fitted without its group, averaged over
    REPEATS draws of the folds."""
    held_out = np.zeros(len(labels))
    for seed in range(REPEATS):
        fold = grouped_folds(groups, seed)
        for k in range(FOLDS):
            weights = standardised_fit(features[fold != k], labels[fold != k])
            held_out[fold == k] += probabilities(weights, features[fold == k]) / REPEATS
    return held_out


def model_features(candidates: list[Scored]) -> Matrix:
    """The model's features of each candidate (``event_model.event_probability``'s)."""
    return np.array([[s.embedding, s.text, np.log1p(s.days)] for s in candidates],
                    dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding-cache", type=Path, default=None,
                        help="raw embeddings kept between runs (as benchmarks/bench_dedup.py)")
    embedder = RawEmbeddings(parser.parse_args().embedding_cache)
    fit_centre("training_set.csv", embedder)
    embedder.save()
    pairs = [s for s in score_split("training_set.csv", embeddings=True, embedder=embedder)
             if _monolingual(s.pair)]
    penalty, threshold, scores = fit_lexical(pairs)
    # what the model will judge: candidates over the floor (not the pairs the floor stops)
    candidates = [s for s in pairs if (s.candidate or s.band) and not s.copy
                  and s.text >= MIN_EMBEDDING_TEXT_COSINE]
    features = model_features(candidates)
    labels = np.array([s.same for s in candidates], dtype=np.float64)
    held_out = out_of_fold(features, labels, article_groups(candidates))
    weights = standardised_fit(features, labels)
    chosen = _lowest_probability(pairs, dict(zip(map(id, candidates), held_out, strict=True)))
    print(f"# {len(pairs)} training pairs in one language; lexical (in-sample): {scores}")
    print(f"TIME_PENALTY = {penalty:.2f}")
    print(f"DEFAULT_EVENT_THRESHOLD = {threshold:.2f}")
    print(f"# embeddings: {len(candidates)} candidates; out-of-fold (grouped by article, "
          f"{REPEATS}x{FOLDS} folds) at {chosen:.2f}: "
          f"P {chosen_scores(pairs, candidates, held_out, chosen)}")
    print(f"# nested (the probability chosen on the other folds): {nested_estimate(pairs)}")
    print(f"INTERCEPT = {weights[3]:.4f}")
    print(f"EMBEDDING_WEIGHT = {weights[0]:.4f}")
    print(f"TEXT_WEIGHT = {weights[1]:.4f}")
    print(f"DAYS_WEIGHT = {weights[2]:.4f}")
    print(f"DEFAULT_EVENT_PROBABILITY = {chosen:.2f}")


def nested_estimate(pairs: list[Scored], precision: float = EMBEDDINGS_PRECISION) -> str:
    """What the whole procedure keeps on pairs it never saw: for each outer grouped fold,
    the model and the probability are chosen on the other folds alone (their own
    out-of-fold probabilities, ``_lowest_probability``), then the fold is judged; the
    outer folds' decisions are pooled. Mean and range over REPEATS outer draws."""
    groups = article_groups(pairs)
    judged = [(s.candidate or s.band) and not s.copy and s.text >= MIN_EMBEDDING_TEXT_COSINE
              for s in pairs]
    results = []
    for seed in range(REPEATS):
        outer = grouped_folds(groups, 1000 + seed)
        decided: dict[int, float] = {}
        for k in range(FOLDS):
            inside = [s for s, f in zip(pairs, outer, strict=True) if f != k]
            train = [s for s, f, j in zip(pairs, outer, judged, strict=True) if f != k and j]
            test = [s for s, f, j in zip(pairs, outer, judged, strict=True) if f == k and j]
            x, y = model_features(train), np.array([s.same for s in train], dtype=np.float64)
            inner = out_of_fold(x, y, article_groups(train))
            chosen = _lowest_probability(inside, dict(zip(map(id, train), inner, strict=True)),
                                         precision)
            found = probabilities(standardised_fit(x, y), model_features(test))
            decided.update((id(s), 1.0 if p >= chosen else 0.0)
                           for s, p in zip(test, found, strict=True))
        results.append(_tally(pairs, decided, 0.5).scores())
    mean, low, high = np.mean(results, axis=0), np.min(results, axis=0), np.max(results, axis=0)
    return (f"P {mean[0]:.3f} ({low[0]:.3f}-{high[0]:.3f}) R {mean[1]:.3f} "
            f"({low[1]:.3f}-{high[1]:.3f}) F1 {mean[2]:.3f}")


def _lexical_tally(pairs: list[Scored], penalty: float, threshold: float) -> Tally:
    tally = Tally()
    for s in pairs:
        # s.event was scored with the module's TIME_PENALTY: give it back, take this one
        score = s.event + (TIME_PENALTY - penalty) * float(np.log1p(s.days))
        joins = s.candidate and s.text >= MIN_TEXT_COSINE and score >= threshold
        tally.add(s.same, s.copy or joins)
    return tally


def fit_lexical(pairs: list[Scored]) -> tuple[float, float, str]:
    """(time penalty, threshold, their scores)."""
    candidates = [s for s in pairs if s.candidate and not s.copy and s.text >= MIN_TEXT_COSINE]
    base = [s.event + TIME_PENALTY * float(np.log1p(s.days)) for s in candidates]
    features = np.array([[b, np.log1p(s.days)] for b, s in zip(base, candidates, strict=True)])
    weights = standardised_fit(features, np.array([s.same for s in candidates], dtype=np.float64))
    penalty = round(float(-weights[1] / weights[0]), 2)
    precision = [_lexical_tally(pairs, penalty, step / 100).scores()[0] for step in range(100)]
    threshold = next(step / 100 for step in range(5, 60)
                     if min(precision[step : step + STABLE + 1]) >= PRECISION)
    p, r, f = _lexical_tally(pairs, penalty, threshold).scores()
    return penalty, threshold, f"P {p:.3f} R {r:.3f} F1 {f:.3f}"


def _tally(pairs: list[Scored], held_out: dict[int, float], probability: float) -> Tally:
    tally = Tally()
    for s in pairs:
        joins = s.text >= MIN_EMBEDDING_TEXT_COSINE and held_out.get(id(s), 0.0) >= probability
        tally.add(s.same, s.copy or joins)
    return tally


def _lowest_probability(pairs: list[Scored], held_out: dict[int, float],
                        precision: float = EMBEDDINGS_PRECISION) -> float:
    """The lowest probability (in steps of 0.01) whose out-of-fold precision reaches
    ``precision`` at every step above it too (a stable point, not a lucky dip)."""
    chosen = 0.99
    for step in range(98, 0, -1):
        probability = step / 100
        if _tally(pairs, held_out, probability).scores()[0] < precision:
            break
        chosen = probability
    return chosen


def chosen_scores(pairs: list[Scored], candidates: list[Scored], held_out: Matrix,
                  probability: float) -> str:
    p, r, f = _tally(pairs, dict(zip(map(id, candidates), held_out, strict=True)),
                     probability).scores()
    return f"{p:.3f} R {r:.3f} F1 {f:.3f}"


if __name__ == "__main__":
    main()
