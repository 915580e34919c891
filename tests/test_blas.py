"""numpy's and scipy's BLAS run on one thread in the server (voice/engines/blas.py)."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_engines_limits_blas_to_one_thread_for_good():
    code = (
        "from voice.engines.blas import blas_threads, one_blas_thread\n"
        "import numpy as np\n"
        "before = blas_threads()\n"
        "one_blas_thread()\n"
        "np.ones((64, 64)) @ np.ones((64, 64))\n"
        "print(before, blas_threads())\n"
    )
    env = {"OPENBLAS_NUM_THREADS": "2", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split("] [")
    before, after = out[0].strip("[] \n"), out[1].strip("[] \n")
    assert before == "2, 2", before  # numpy's and scipy's own OpenBLAS
    assert after == "1, 1", after
