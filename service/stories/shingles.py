"""Word shingles of normalised text, hashed to sorted unique 32-bit integers.

A story is compared by the sets of its overlapping three-word sequences,
normalised so that case, accents and punctuation never split two copies
(NFKC, casefold, Latin/Greek/Cyrillic accents and diacritics dropped, so
ı/İ → i and ё → е, close to ``service.text.normalize`` but over a whole text
at once: shingling reads every word of every article, so it cannot afford a
call per word).
Scripts written without spaces (Chinese, Japanese, Thai) count each
character as a word. Each word is hashed once (xxhash, cached) and the
three word hashes are mixed with numpy (sha1 per shingle is ~2x slower).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import numpy.typing as npt
from xxhash import xxh32_intdigest

SHINGLE_WORDS = 3
Shingles = npt.NDArray[np.uint32]  # sorted, unique

_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_ACCENTS = re.compile("[\u0300-\u036f\u0483-\u0489]")
_WORD = re.compile(r"[^\W_]+")
_MASK = np.uint64(0xFFFFFFFF)
_MIX = (np.uint64(0x9E3779B1), np.uint64(0x85EBCA77), np.uint64(0xC2B2AE3D))
_CACHE_LIMIT = 1 << 20
_word_hashes: dict[str, int] = {}


def normalise(text: str) -> str:
    """Folded, lower-cased, unaccented text (words keep their boundaries)."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ı", "i")
    return _ACCENTS.sub("", unicodedata.normalize("NFD", folded))


def words_of(normal: str) -> list[str]:
    """The words of already normalised text; unspaced scripts split into characters."""
    found = _WORD.findall(normal)
    if not _UNSPACED.search(normal):
        return found
    out: list[str] = []
    for word in found:
        out.extend(word if _UNSPACED.search(word) else [word])
    return out


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``; unspaced scripts split into characters."""
    return words_of(normalise(text))


def _hash_words(word_list: list[str]) -> npt.NDArray[np.uint64]:
    cache = _word_hashes
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    values = list(map(cache.get, word_list))
    if None in values:
        for i, value in enumerate(values):
            if value is None:
                values[i] = cache[word_list[i]] = xxh32_intdigest(word_list[i].encode())
    return np.array(values, dtype=np.uint64)


def _fmix32(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """murmur3's finaliser: spreads the mixed bits over all 32."""
    values = values ^ (values >> np.uint64(16))
    values = (values * np.uint64(0x85EBCA6B)) & _MASK
    values = values ^ (values >> np.uint64(13))
    values = (values * np.uint64(0xC2B2AE35)) & _MASK
    return values ^ (values >> np.uint64(16))


def _unique(values: npt.NDArray[np.uint32]) -> Shingles:
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def shingles_of(word_list: list[str], size: int = SHINGLE_WORDS) -> Shingles:
    """The hashed ``size``-word shingles of ``word_list`` (one shingle if shorter)."""
    if not word_list:
        return np.empty(0, dtype=np.uint32)
    hashes = _hash_words(word_list)
    width = min(size, len(hashes))
    count = len(hashes) - width + 1
    mixed = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        mixed = ((mixed * _MIX[offset % 3]) & _MASK) ^ hashes[offset : offset + count]
    return _unique(_fmix32(mixed).astype(np.uint32))


def shingles(text: str, size: int = SHINGLE_WORDS) -> Shingles:
    return shingles_of(tokens(text), size)
