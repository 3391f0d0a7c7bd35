"""MinHash signatures and LSH band keys of a story text (datasketch's scheme, in C).

One datasketch ``MinHash`` permutation table (the affine32 scheme) is built
once per process and reused for every article; the signature is computed
from it by the C module ``_sketch`` (what ``MinHash.update_batch`` computes,
without a Python call per shingle or numpy's 192 x n temporary matrix;
tests hold it to datasketch and to the former numpy code). The signature is
cut into ``BANDS`` bands of ``ROWS`` values; two texts share a band key with
probability 1 - (1 - J^ROWS)^BANDS for Jaccard similarity J: with 64 bands
of 3 rows that is 0.40 at J = 0.2, 0.94 at J = 0.35 and 0.9998 at J = 0.5
(a copy that drops a fifth and adds its own headline, dateline and footer is
near J = 0.5: 42 bands of 3 rows missed 0.5% of those). Two rows per band
would miss fewer, but unrelated texts (J ~ 0.02 through common phrases)
would then meet in 2.5% of pairs: thousands of candidates per article
with 100,000 indexed. LSH only
proposes candidates and an exact check (``similarity``) decides. Band keys
are signed 64-bit integers so the database can index them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from datasketch import MinHash

from service.stories import _sketch
from service.stories.shingles import Shingles

NUM_PERM = 192
BANDS = 64
ROWS = 3
_SEED = 1
_SCHEME = "affine32"


@dataclass(frozen=True, slots=True, eq=False)
class Sketch:
    """What the story index keeps of one article: its shingles and band keys."""

    shingles: Shingles
    bands: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return len(self.shingles) == 0


@lru_cache(maxsize=1)
def permutations() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """datasketch's permutation table (a, b) for ``NUM_PERM`` and ``_SEED``."""
    # imported here: datasketch pulls in scipy (a second of start-up) for its LSH,
    # which newswatch does not use; commands that never sketch never pay for it
    from datasketch import MinHash

    a, b = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME).permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def _identity(value: int) -> int:
    return value


def minhash(shingle_hashes: Shingles) -> MinHash:
    """The datasketch MinHash of already hashed shingles (the reference path)."""
    from datasketch import MinHash

    signature = MinHash(
        num_perm=NUM_PERM, seed=_SEED, hashfunc=_identity,
        permutations=permutations(), scheme=_SCHEME,
    )
    signature.update_batch(shingle_hashes.tolist())
    return signature


def hashvalues(shingle_hashes: Shingles) -> npt.NDArray[np.uint32]:
    """``minhash(shingle_hashes).hashvalues``: for each permutation (a, b), the
    minimum of a * fmix32(s) + b modulo 2^32 over the shingles s (not empty)."""
    a, b = permutations()
    return np.frombuffer(_sketch.signature(_uint32(shingle_hashes), a, b), dtype=np.uint32)


def band_keys(hashvalues: npt.NDArray[np.uint32]) -> tuple[int, ...]:
    """One signed 64-bit key per band: its number and its rows, mixed by fmix64."""
    return _sketch.band_keys(_uint32(hashvalues), BANDS, ROWS)


def _uint32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    return np.ascontiguousarray(values, dtype=np.uint32)


def sketch(shingle_hashes: Shingles) -> Sketch:
    """The sketch of a text's shingles (no bands for an empty text)."""
    if len(shingle_hashes) == 0:
        return Sketch(shingle_hashes, ())
    return Sketch(shingle_hashes, band_keys(hashvalues(shingle_hashes)))
