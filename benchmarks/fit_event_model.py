"""Fit the same-event model with sentence embeddings on SemEval 2022 task 8's training pairs.

    .venv/bin/pip install -e '.[embeddings]'
    .venv/bin/python benchmarks/fit_event_model.py

Pairs in one language whose texts share MIN_SHARED salient terms (the
candidates the service compares) are the examples: same story (Overall <=
1.5) or not (>= 3.5). Features: the cosine of the two sentence embeddings and
of the two TF-IDF text vectors. A logistic regression (Newton's method, a
little L2, features standardised, weights then given back on the raw scale)
is fitted; five folds give out-of-fold probabilities, and the default
probability is the lowest at which the training pairs' precision (all pairs
in one language, the non-candidates and pairs below the service's text
cosine floor counted as "different", copies as "same") reaches PRECISION.
Only the training split is read. Prints the block of
service/stories/event_model.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_dedup import Scored, Tally, _monolingual, score_split
from service.stories.events import MIN_TEXT_COSINE

PRECISION = 0.95
FOLDS = 5
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


def main() -> None:
    pairs = [s for s in score_split("training_set.csv", embeddings=True) if _monolingual(s.pair)]
    candidates = [s for s in pairs if s.candidate and not s.copy]
    features = np.array([[s.embedding, s.text] for s in candidates], dtype=np.float64)
    labels = np.array([s.same for s in candidates], dtype=np.float64)
    fold = np.random.default_rng(0).integers(0, FOLDS, len(candidates))
    held_out = np.zeros(len(candidates))
    for k in range(FOLDS):
        weights = standardised_fit(features[fold != k], labels[fold != k])
        held_out[fold == k] = probabilities(weights, features[fold == k])
    weights = standardised_fit(features, labels)
    chosen = _lowest_probability(pairs, dict(zip(map(id, candidates), held_out, strict=True)))
    print(f"# {len(pairs)} training pairs in one language, {len(candidates)} candidates; "
          f"out-of-fold at {chosen:.2f}: P {chosen_scores(pairs, candidates, held_out, chosen)}")
    print(f"INTERCEPT = {weights[2]:.4f}")
    print(f"EMBEDDING_WEIGHT = {weights[0]:.4f}")
    print(f"TEXT_WEIGHT = {weights[1]:.4f}")
    print(f"DEFAULT_EVENT_PROBABILITY = {chosen:.2f}")


def _tally(pairs: list[Scored], held_out: dict[int, float], probability: float) -> Tally:
    tally = Tally()
    for s in pairs:
        joins = s.text >= MIN_TEXT_COSINE and held_out.get(id(s), 0.0) >= probability
        tally.add(s.same, s.copy or joins)
    return tally


def _lowest_probability(pairs: list[Scored], held_out: dict[int, float]) -> float:
    """The lowest probability (in steps of 0.01) whose out-of-fold precision reaches
    PRECISION at every step above it too (a stable point, not a lucky dip)."""
    chosen = 0.99
    for step in range(98, 0, -1):
        probability = step / 100
        if _tally(pairs, held_out, probability).scores()[0] < PRECISION:
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
