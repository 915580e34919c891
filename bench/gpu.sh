#!/usr/bin/env bash
# The GPU run (issue 15): on a machine with a CUDA GPU, from a fresh checkout, in one command:
#
#     bench/gpu.sh                 # installs (make install), measures, writes docs/benchmarks.md
#     bench/gpu.sh --cpu-smoke --out /tmp/gpu.md   # the same steps on the CPU, tiny sizes
#
# It measures Whisper's float16 real-time factor, the LLM's first token and tokens per second,
# bench/latency.py's median and p95, and the largest N of bench/load.py within the p95 bound
# (bench/gpu_run.py says how), in under 8 minutes, and writes them between the GPU markers of
# docs/benchmarks.md. GPU_SH_NO_INSTALL=1 skips `make install` (the test, in a tree already
# installed); GPU_SH_TIMEOUT_S moves the backstop (480 s). Other arguments go to bench/gpu_run.py.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${GPU_SH_NO_INSTALL:-}" != 1 ]]; then
    make install
fi
PY=.venv/bin/python

# CTranslate2 (Whisper) loads libcublas and libcudnn at run time. Where they came as pip's
# nvidia-* wheels (with a CUDA build of torch) they are not on the loader's path: add them.
NVIDIA_LIBS="$("$PY" - <<'PYEOF'
import glob, os, site
dirs = [d for p in site.getsitepackages() for d in glob.glob(os.path.join(p, "nvidia", "*", "lib"))]
print(":".join(sorted(dirs)))
PYEOF
)"
if [[ -n "$NVIDIA_LIBS" ]]; then
    export LD_LIBRARY_PATH="$NVIDIA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# The run keeps to its own budget (--budget-s, 450 s by default); this is the backstop.
exec timeout "${GPU_SH_TIMEOUT_S:-480}" "$PY" bench/gpu_run.py "$@"
