"""A finished call's freed heap goes back to the operating system, and what start-up loaded
stays out of the garbage collector's scans (voice/heap.py)."""

from __future__ import annotations

import gc
import platform

import psutil
import pytest

from voice.heap import freeze_startup_objects, release_free_heap

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def test_freed_holes_in_the_heap_are_given_back() -> None:
    # 60 KB blocks come from the heap (under glibc's mmap threshold). Keeping every tenth
    # leaves holes that glibc does not return by itself: the RSS a call's buffers leave behind.
    blocks = [bytes(60_000) for _ in range(3000)]
    kept = blocks[::10]
    del blocks
    before = rss_mb()
    assert release_free_heap() is True
    after = rss_mb()
    assert before - after > 80, (before, after)  # 162 MB freed in 540 KB holes: ~100 back
    assert len(kept) == 300


def test_objects_alive_at_start_up_are_kept_out_of_later_collections():
    loaded = [{"weights": list(range(10))} for _ in range(1000)]  # what start-up keeps
    try:
        frozen = freeze_startup_objects()
        assert frozen >= len(loaded)
        assert not any(obj is loaded for obj in gc.get_objects())  # a collection skips them
        later = [{"frame": i} for i in range(10)]  # a call's objects are still collected
        assert any(obj is later for obj in gc.get_objects())
    finally:
        gc.unfreeze()
