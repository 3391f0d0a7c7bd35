"""Word shingles of normalised text, hashed to sorted unique 32-bit integers.

A story is compared by the sets of its overlapping three-word sequences:
normalised (the words of ``service.text.normalize``), so case, accents and
punctuation never split two copies; scripts written without spaces (Chinese,
Japanese, Thai) count each character as a word. Each word is hashed once
(xxhash, cached) and the three word hashes are mixed with numpy, which is
what makes signatures cheap (sha1 per shingle is ~2x slower overall).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from xxhash import xxh32_intdigest

from service.text.normalize import words

SHINGLE_WORDS = 3
Shingles = npt.NDArray[np.uint32]  # sorted, unique

_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_MASK = np.uint64(0xFFFFFFFF)
_MIX = (np.uint64(0x9E3779B1), np.uint64(0x85EBCA77), np.uint64(0xC2B2AE3D))


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``; unspaced scripts split into characters."""
    out: list[str] = []
    for word in words(text):
        if _UNSPACED.search(word):
            out.extend(word)
        else:
            out.append(word)
    return out


@lru_cache(maxsize=1 << 18)
def _word_hash(word: str) -> int:
    return xxh32_intdigest(word.encode())


def _fmix32(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """murmur3's finaliser: spreads the mixed bits over all 32."""
    values = values ^ (values >> np.uint64(16))
    values = (values * np.uint64(0x85EBCA6B)) & _MASK
    values = values ^ (values >> np.uint64(13))
    values = (values * np.uint64(0xC2B2AE35)) & _MASK
    return values ^ (values >> np.uint64(16))


def shingles_of(word_list: list[str], size: int = SHINGLE_WORDS) -> Shingles:
    """The hashed ``size``-word shingles of ``word_list`` (one shingle if shorter)."""
    if not word_list:
        return np.empty(0, dtype=np.uint32)
    hashes = np.fromiter(map(_word_hash, word_list), dtype=np.uint64, count=len(word_list))
    width = min(size, len(hashes))
    count = len(hashes) - width + 1
    mixed = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        mixed = ((mixed * _MIX[offset % 3]) & _MASK) ^ hashes[offset : offset + count]
    return np.unique(_fmix32(mixed).astype(np.uint32))


def shingles(text: str, size: int = SHINGLE_WORDS) -> Shingles:
    return shingles_of(tokens(text), size)
