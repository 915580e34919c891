"""numpy's and scipy's BLAS on one thread: a call's audio is vector work on 20 ms frames.

OpenBLAS starts a worker thread per core and, after each call into it, keeps that worker
spinning a while for more work. Every call's audio goes through numpy 50 times a second (the
echo gate's dot products and correlations, the upsampler), so on the 2-core box the worker
spun almost all the time: 37 of the 51 CPU seconds that three realistic calls cost the
server, three times what the calls' own work took (`bench/load.py`, docs/benchmarks.md).
Vectors this short gain nothing from a second thread. Whisper (CTranslate2) and torch keep
their own thread pools (OpenMP), which this leaves alone.
"""

from __future__ import annotations

# Both BLAS libraries loaded before the limit is set (a library loaded later keeps its own).
import numpy  # noqa: F401
import scipy.linalg  # noqa: F401
from threadpoolctl import threadpool_info, threadpool_limits


def one_blas_thread() -> None:
    """Limit every BLAS library loaded in the process (numpy's, scipy's) to one thread; for
    the rest of the process's life."""
    threadpool_limits(limits=1, user_api="blas")


def blas_threads() -> list[int]:
    """Threads of each BLAS library loaded (for the start-up log and the tests)."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
