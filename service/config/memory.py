"""Hand memory freed by a large configuration load back to the operating system.

Loading a 100,000-feed feeds.yaml composes a line-tracked YAML node tree of
a few hundred megabytes that is garbage a moment later (bench_poller). The
interpreter keeps freed memory for reuse; after a load, ``malloc_trim`` asks
glibc to return the free pages. Best effort: elsewhere (musl, macOS) or if
the call fails, nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys


def release_free_memory() -> None:
    """Collect garbage, then return glibc's free pages to the OS (Linux/glibc only)."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: no malloc_trim
        return
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
