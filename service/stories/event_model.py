"""The same-event decision with sentence embeddings: a fitted logistic regression.

Two features of a candidate pair (one sharing salient terms): the cosine of
the two articles' embeddings (``service.stories.embedding``) and the cosine
of their TF-IDF text vectors (``service.stories.events``). The weights and
the default probability were fitted on SemEval 2022 task 8's *training*
pairs in one language (same story: Overall <= 1.5; different: >= 3.5) by
``benchmarks/fit_event_model.py``, which prints this block; the probability
is the lowest at which the training pairs' out-of-fold precision reaches
0.95. The testing pairs are only ever scored (benchmarks/bench_dedup.py).
"""

from __future__ import annotations

import math

# 566 training pairs in one language, 257 candidates; out-of-fold at 0.82: P 0.951 R 0.657
INTERCEPT = -5.7396
EMBEDDING_WEIGHT = 9.3441
TEXT_WEIGHT = 4.8267
DEFAULT_EVENT_PROBABILITY = 0.82


def event_probability(embedding_cosine: float, text_cosine: float) -> float:
    """The model's probability that the two articles tell the same event."""
    logit = INTERCEPT + EMBEDDING_WEIGHT * embedding_cosine + TEXT_WEIGHT * text_cosine
    return 1.0 / (1.0 + math.exp(-logit))
