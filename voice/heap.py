"""The long-lived server's memory: the heap a finished call freed goes back to the operating
system, and what start-up loaded is kept out of the garbage collector's scans.

A call allocates from many threads (the event loop, Whisper's and the TTS engine's pools, the
store's writer). glibc keeps what they free in per-thread arenas rather than returning it, so
the server's resident memory rose call after call and stayed up while idle (+257 MB/h in a
25-minute soak at 6 calls). `malloc_trim` hands the free pages back: after a 12-minute soak,
1,967 MB fell to 1,765 MB (docs/benchmarks.md, issue 15). Off glibc this does nothing.

Start-up loads about 550,000 Python objects (models, tokenizers, modules) that live as long
as the process. CPython's full collection scans them all: 240 ms on the 2-core box, while the
event loop, and so every call's audio, stands still. At 6 calls such a pause left gaps of
120-140 ms in the agent's speech. `gc.freeze()` moves them out of the collector's reach.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import time
from collections.abc import Callable

from voice.logs import get_logger

log = get_logger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_free_heap() -> bool:
    """Return free heap pages to the OS; False where the C library cannot (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    started = time.perf_counter()
    trim(0)
    log.debug("heap trimmed", ms=round((time.perf_counter() - started) * 1000, 1))
    return True


def freeze_startup_objects() -> int:
    """Collect once, then keep every object alive now out of later collections (they live as
    long as the process anyway). Returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
