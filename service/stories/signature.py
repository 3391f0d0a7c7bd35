"""MinHash signatures and LSH band keys of a story text (datasketch).

One datasketch ``MinHash`` permutation table (the affine32 scheme) is built
once per process and reused for every article; the signature is computed
from it in one numpy expression, as ``MinHash.update_batch`` does, minus its
Python call per shingle. The signature is
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

from service.stories.shingles import Shingles, fmix64

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
def _permutations() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
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
        permutations=_permutations(), scheme=_SCHEME,
    )
    signature.update_batch(shingle_hashes.tolist())
    return signature


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def hashvalues(shingle_hashes: Shingles) -> npt.NDArray[np.uint32]:
    """``minhash(shingle_hashes).hashvalues`` without a Python call per shingle.

    datasketch's affine32 scheme: murmur3-finalise each input, then
    a * h + b modulo 2^32 per permutation, and the minimum per permutation
    (tests check the two agree).
    """
    a, b = _permutations()
    mixed = _fmix32(shingle_hashes.astype(np.uint32)).reshape(-1, 1)
    permuted = mixed * a + b
    result: npt.NDArray[np.uint32] = permuted.min(axis=0)
    return result


def band_keys(hashvalues: npt.NDArray[np.uint32]) -> tuple[int, ...]:
    """One signed 64-bit key per band: its rows and its number, mixed (numpy)."""
    rows = hashvalues[: BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
    mixed = _BAND_SEEDS.copy()
    for row in range(ROWS):
        mixed = fmix64(mixed ^ rows[:, row])
    keys: tuple[int, ...] = tuple(mixed.view(np.int64).tolist())
    return keys


_BAND_SEEDS = fmix64(np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def sketch(shingle_hashes: Shingles) -> Sketch:
    """The sketch of a text's shingles (no bands for an empty text)."""
    if len(shingle_hashes) == 0:
        return Sketch(shingle_hashes, ())
    return Sketch(shingle_hashes, band_keys(hashvalues(shingle_hashes)))
