"""The near-copy path as it was computed before the C modules, to hold them to.

Segments by regular expressions (``segments``), word shingles and the MinHash
signature in numpy (``shingles_of``, ``hashvalues``), band keys by a numpy
loop (``band_keys``): the code of service.stories.boilerplate, shingles and
signature at the end of session 4, unchanged. Stored fingerprints, shingles
and band keys were made by it, so service.stories._segments and _sketch must
give exactly these values (tests/test_sketch_reference.py).
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
from xxhash import xxh3_64_intdigest

from service.stories.boilerplate import Segment, mask_urls
from service.stories.shingles import (
    HAS_UNSPACED,
    SPACED_WORD,
    WORD,
    Shingles,
    fmix64,
    normalise,
    word_hashes,
    words_of,
)
from service.stories.signature import BANDS, ROWS, permutations

# ---------------------------------------------------------------- segments

_SIGNED = 1 << 63
_DIGITS = re.compile(r"[0-9]+")
_DIGIT = re.compile(r"[0-9]")
_WORD_OR_END = re.compile(WORD.pattern + "|\x00")
_SPACED_WORD_OR_END = re.compile(SPACED_WORD.pattern + "|\x00")
# a line break, or the space after a sentence's end (abbreviations may split: harmless)
_SEGMENT_END = re.compile(r"\s*\n\s*|(?<=[.!?…。！？])[\"'»”’)\]]*\s+")


def fingerprint(joined: str) -> int:
    if _DIGIT.search(joined):
        joined = _DIGITS.sub("0", joined)
    return xxh3_64_intdigest(joined.encode()) - _SIGNED


def segments(text: str) -> list[Segment]:
    """The segments of ``text`` that have words, in order."""
    return split(normalise(mask_urls(text)))


def split(normal: str) -> list[Segment]:
    """The segments of already normalised text (``_segments.split``'s reference)."""
    marked = _SEGMENT_END.sub(" \x00 ", normal)
    spaced = normal.isascii() or not HAS_UNSPACED.search(normal)
    tokens = words_of(marked, _SPACED_WORD_OR_END if spaced else _WORD_OR_END)
    found: list[Segment] = []
    for piece in " ".join(tokens).split("\x00"):
        piece = piece.strip()
        if piece:
            found.append(Segment(piece.split(" "), fingerprint(piece)))
    return found


# ---------------------------------------------------------------- shingles

_MASK = np.uint64(0xFFFFFFFF)
_MIX = (np.uint64(0x9E3779B1), np.uint64(0x85EBCA77), np.uint64(0xC2B2AE3D))


def _fmix32_64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
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


def shingles_of(word_list: list[str], size: int = 3) -> Shingles:
    """The hashed ``size``-word shingles of ``word_list`` (one shingle if shorter)."""
    if not word_list:
        return np.empty(0, dtype=np.uint32)
    hashes = word_hashes(word_list).hashes & _MASK
    width = min(size, len(hashes))
    count = len(hashes) - width + 1
    mixed = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        mixed = ((mixed * _MIX[offset % 3]) & _MASK) ^ hashes[offset : offset + count]
    return _unique(_fmix32_64(mixed).astype(np.uint32))


# ---------------------------------------------------------------- signature, bands


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def hashvalues(shingle_hashes: Shingles) -> npt.NDArray[np.uint32]:
    """datasketch's affine32 MinHash of the shingles, in one numpy expression."""
    a, b = permutations()
    mixed = _fmix32(shingle_hashes.astype(np.uint32)).reshape(-1, 1)
    permuted = mixed * a + b
    result: npt.NDArray[np.uint32] = permuted.min(axis=0)
    return result


_BAND_SEEDS = fmix64(np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def band_keys(hashvalues: npt.NDArray[np.uint32]) -> tuple[int, ...]:
    """One signed 64-bit key per band: its rows and its number, mixed (numpy)."""
    rows = hashvalues[: BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
    mixed = _BAND_SEEDS.copy()
    for row in range(ROWS):
        mixed = fmix64(mixed ^ rows[:, row])
    keys: tuple[int, ...] = tuple(mixed.view(np.int64).tolist())
    return keys
