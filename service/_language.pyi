"""Types of the C module service/_language.c (py3langid's automaton walk)."""

import numpy as np
import numpy.typing as npt

def count_features(
    moves: npt.NDArray[np.uint32], rowbase: npt.NDArray[np.uint32],
    outputs: npt.NDArray[np.int32], slots: npt.NDArray[np.int32], text: bytes,
    features: npt.NDArray[np.intp], counts: npt.NDArray[np.intp], /,
) -> int: ...
