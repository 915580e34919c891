"""Operating-system names for the threads each model runs in, so CPU can be told apart.

Python's thread names stay inside Python: `top -H`, `/proc/<pid>/task/*/comm` and the CPU
profile of `bench/cpu_profile.py` see every thread as "python". Each engine names its worker
threads after itself ("stt", "llm", "tts"), and the threads a model's runtime starts
(CTranslate2's workers, OpenMP teams) inherit the name of the thread that started them, so a
model is also built under its name. Linux only (prctl); elsewhere nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager

PR_SET_NAME, PR_GET_NAME = 15, 16
_libc = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform == "linux" else None


def set_os_thread_name(name: str) -> None:
    """Name the calling thread (at most 15 bytes are kept)."""
    if _libc is not None:
        _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def os_thread_name() -> str:
    if _libc is None:
        return ""
    buffer = ctypes.create_string_buffer(16)
    _libc.prctl(PR_GET_NAME, buffer, 0, 0, 0)
    return buffer.value.decode(errors="replace")


@contextmanager
def os_thread_named(name: str) -> Iterator[None]:
    """The calling thread carries `name` meanwhile: threads it starts inherit it."""
    before = os_thread_name()
    set_os_thread_name(name)
    try:
        yield
    finally:
        set_os_thread_name(before)
