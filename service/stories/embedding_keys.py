"""Band keys of an embedding: candidates for the same-event path by meaning, not words.

Salient terms find the articles sharing two of an article's rarest words; a
rewrite in other words about the same event may share none, yet its sentence
embedding lies close. Comparing each article with every embedding of the
window is out of reach of the shared database, so the embedding is hashed as
locality-sensitive keys posted beside the salient terms (the same inverted
index, ``service.storage.event_index``): random hyperplanes cut the space,
each gives a bit (which side the embedding falls on: the sign of a random
projection, Charikar 2002), and ``BANDS`` bands of ``ROWS`` bits each make a
key. Two embeddings at angle theta agree on a bit with probability 1 - theta/pi,
so they share a band with probability 1 - (1 - (1 - theta/pi)^ROWS)^BANDS: 0.80
for a cosine of 0.7 (about the median of SemEval 2022 task 8's same-story
training pairs, centred e5 embeddings: ``embedding``), 0.19 for 0.26 (the
median of the different ones). Measured there: 0.75 of the same-story pairs
share a band, 0.23 of the different ones (which share salient terms, often
one person or town), 0.07 of two articles drawn at random. The candidates
are then judged by the model like any other. With them, 0.90 of the
training split's same-story pairs are compared (salient terms alone: 0.86),
of the 0.95 over the text cosine floor ``events.MIN_EMBEDDING_TEXT_COSINE``.

The hyperplanes are +-1 vectors drawn from murmur3's finaliser over a
counter, not from numpy's generators (whose streams may change between
versions): every process of every version finds the same keys.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from service.stories.shingles import fmix64

BANDS = 16
ROWS = 8
_SEED = np.uint64(0x6E77_5250)  # "nwRP": the hyperplanes' stream
_SALT = np.uint64(0xB5AD_4ECE_DA1C_E2A9)  # keys apart from the term hashes
Keys = npt.NDArray[np.int64]


@lru_cache(maxsize=4)
def _planes(dimensions: int) -> npt.NDArray[np.float32]:
    """``BANDS * ROWS`` hyperplanes (rows of +-1) for embeddings of ``dimensions``."""
    count = BANDS * ROWS * dimensions
    drawn = fmix64(np.arange(count, dtype=np.uint64) + _SEED * np.uint64(dimensions))
    signs = np.where(drawn >> np.uint64(63) == 1, -1.0, 1.0).astype(np.float32)
    return signs.reshape(BANDS * ROWS, dimensions)


def embedding_keys(embedding: npt.NDArray[np.float32]) -> Keys:
    """The ``BANDS`` keys of an embedding (signed 64-bit, never 0: the count of
    documents lives under term 0)."""
    if not len(embedding):
        return np.zeros(0, dtype=np.int64)
    bits = (_planes(len(embedding)) @ embedding > 0).reshape(BANDS, ROWS)
    values = bits.astype(np.uint64) @ (np.uint64(1) << np.arange(ROWS, dtype=np.uint64))
    band = np.arange(BANDS, dtype=np.uint64) << np.uint64(ROWS)
    keys = fmix64((band | values) ^ _SALT).view(np.int64)
    keys[keys == 0] = 1
    return keys
