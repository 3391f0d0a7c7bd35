"""Types of the C module service/stories/_sketch.c (shingles, MinHash, band keys)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

UInt32s = npt.NDArray[np.uint32] | bytes  # native uint32 values; bytes as this module makes

def shingles(words: Sequence[str], /) -> bytes: ...
def signature(shingles: UInt32s, a: UInt32s, b: UInt32s, /) -> bytes: ...
def band_keys(signature: UInt32s, bands: int, rows: int, /) -> tuple[int, ...]: ...
