"""Word shingles of normalised text, hashed to sorted unique 32-bit integers.

A story is compared by the sets of its overlapping three-word sequences,
normalised so that case, accents and punctuation never split two copies
(NFKC, casefold, Latin/Greek/Cyrillic accents and diacritics dropped, so
ı/İ → i and ё → е, close to ``service.text.normalize`` but over a whole text
at once: shingling reads every word of every article, so it cannot afford a
call per word).
Scripts written without spaces (Chinese, Japanese, Thai) count each
character as a word. A word's hash is a polynomial over its code points,
murmur3-finalised, the same in every process: ``word_hashes`` computes it
for a whole text at once with numpy (the same-event terms use it), the C
module ``_sketch`` for the shingles, which mixes the three word hashes of
each shingle likewise (sha1 per shingle, datasketch's default, is several
times slower).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from service.stories import _sketch

SHINGLE_WORDS = 3  # fixed in _sketch.c
Shingles = npt.NDArray[np.uint32]  # sorted, unique

_UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
# a character of an unspaced script alone, or a run of other letters and digits
WORD = re.compile(f"[{_UNSPACED}]|[^\\W_{_UNSPACED}]+")
SPACED_WORD = re.compile(r"[^\W_]+")  # the same, faster, for text without unspaced script
HAS_UNSPACED = re.compile(f"[{_UNSPACED}]")
_ACCENTS = re.compile("[\u0300-\u036f\u0483-\u0489]")


def normalise(text: str) -> str:
    """Folded, lower-cased, unaccented text (words keep their boundaries)."""
    if text.isascii():  # most feeds: nothing to fold but the case
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ı", "i")
    return _ACCENTS.sub("", unicodedata.normalize("NFD", folded))


def words_of(normal: str, pattern: re.Pattern[str] | None = None) -> list[str]:
    """The words of already normalised text; unspaced scripts split into characters."""
    if pattern is None:
        spaced = normal.isascii() or not HAS_UNSPACED.search(normal)
        pattern = SPACED_WORD if spaced else WORD
    found: list[str] = pattern.findall(normal)
    return found


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``; unspaced scripts split into characters."""
    return words_of(normalise(text))


def _powers(count: int) -> npt.NDArray[np.uint64]:
    powers = np.empty(count, dtype=np.uint64)
    powers[0] = 1
    with np.errstate(over="ignore"):
        for i in range(1, count):
            powers[i] = powers[i - 1] * _BASE
    return powers


_BASE = np.uint64(0x100000001B3)  # FNV's 64-bit prime
_ONE = np.uint64(1)
_MAX_POSITION = 1 << 10  # characters past it share one power (long words still differ)
_POWERS = _powers(_MAX_POSITION)


def fmix64(mixed: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """murmur3's 64-bit finaliser."""
    mixed = mixed ^ (mixed >> np.uint64(33))
    mixed = mixed * np.uint64(0xFF51AFD7ED558CCD)
    mixed = mixed ^ (mixed >> np.uint64(33))
    mixed = mixed * np.uint64(0xC4CEB9FE1A85EC53)
    return mixed ^ (mixed >> np.uint64(33))


class WordHashes(NamedTuple):
    """The words of a text as arrays: length, first code point, 64-bit hash."""

    lengths: npt.NDArray[np.int64]
    first: npt.NDArray[np.uint32]
    hashes: npt.NDArray[np.uint64]


def word_hashes(word_list: list[str]) -> WordHashes:
    """A 64-bit hash of each word, all words at once (numpy, no call per word).

    Polynomial in the code points, sum_i (c_i + 1) * B^i modulo 2^64, then
    murmur3's finaliser; the same in every process (unlike ``hash``).
    """
    lengths = np.fromiter(map(len, word_list), dtype=np.int64, count=len(word_list))
    codes = np.frombuffer("".join(word_list).encode("utf-32-le"), dtype=np.uint32)
    starts = np.cumsum(lengths) - lengths
    if len(codes) == 0:
        return WordHashes(lengths, codes, np.zeros(0, dtype=np.uint64))
    position = np.arange(len(codes), dtype=np.int64) - np.repeat(starts, lengths)
    np.minimum(position, _MAX_POSITION - 1, out=position)
    terms = (codes.astype(np.uint64) + _ONE) * _POWERS[position]
    sums: npt.NDArray[np.uint64] = np.add.reduceat(terms, starts)
    mixed = sums ^ lengths.astype(np.uint64)
    return WordHashes(lengths, codes[starts], fmix64(mixed))


def shingles_of(word_list: Sequence[str]) -> Shingles:
    """The hashed three-word shingles of ``word_list`` (one shingle if shorter).

    Each word hashed as ``word_hashes`` does (low 32 bits), the three word
    hashes of a shingle mixed and murmur3-finalised, sorted and unique: in C
    (``_sketch.shingles``), one pass with no call per word or per shingle.
    """
    return np.frombuffer(_sketch.shingles(word_list), dtype=np.uint32)


def shingles(text: str) -> Shingles:
    return shingles_of(tokens(text))
