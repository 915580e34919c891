"""`bench/gpu.sh` (issue 15): the GPU run's script, run on the CPU with `--cpu-smoke`.

No GPU is lent to the machines the tests run on, so the script's steps (Whisper, the LLM, the
latency and the load benchmark, the section written into the benchmarks page) run here on the
CPU with tiny sizes, through the same code; on a GPU machine only the device and sizes change.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gpu_run import BEGIN, END, write_section  # noqa: E402
from voice.engines.models import ctranslate2_sees_cuda  # noqa: E402


def test_the_section_replaces_the_last_run_and_keeps_the_rest(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## Other\n\ntext\n")
    write_section(page, f"{BEGIN}\nfirst run\n{END}\n")
    write_section(page, f"{BEGIN}\nsecond run\n{END}\n")
    text = page.read_text()
    assert text.count(BEGIN) == 1 and "second run" in text and "first run" not in text
    assert text.startswith("# Benchmarks\n\n## Other\n\ntext\n")
    page.write_text(text + "\n## Later section\n")
    write_section(page, f"{BEGIN}\nthird run\n{END}\n")
    assert page.read_text().endswith("third run\n" + END + "\n\n## Later section\n")


@pytest.mark.skipif(ctranslate2_sees_cuda(), reason="a GPU is here: the script would use it")
def test_without_a_gpu_the_script_says_so_and_measures_nothing(tmp_path):
    out = tmp_path / "gpu.md"
    done = subprocess.run(
        [str(ROOT / "bench" / "gpu.sh"), "--out", str(out)],
        env={**os.environ, "GPU_SH_NO_INSTALL": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "--cpu-smoke" in done.stderr
    assert not out.exists()


def test_the_cpu_smoke_run_goes_through_every_step(tmp_path):
    out = tmp_path / "gpu.md"
    done = subprocess.run(
        [str(ROOT / "bench" / "gpu.sh"), "--cpu-smoke", "--out", str(out), "--budget-s", "1100"],
        env={**os.environ, "GPU_SH_NO_INSTALL": "1", "GPU_SH_TIMEOUT_S": "1200"},
        capture_output=True,
        text=True,
        timeout=1300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and "Failed:" not in text
    rtf = re.search(r"Whisper base \(cpu/int8\) real-time factor \| ([0-9.]+) over 2 turns", text)
    assert rtf and 0 < float(rtf.group(1)) < 20, text
    first = re.search(r"first token \| ([0-9.]+) ms", text)
    speed = re.search(r"tokens per second \| ([0-9.]+) \((\d+) tokens\)", text)
    assert first and float(first.group(1)) > 0 and speed and int(speed.group(2)) > 0, text
    assert re.search(r"\| ours, all turns \| [1-9]\d* \| \d+ \| \d+ \| ", text), text
    # one call of one turn, answered (its speed and underruns are the machine's business)
    assert re.search(r"\n\| 1 \| 1 \| 0 \| \d+ \| \d+ \| \d+ \| \d+ \|", text), text
    assert re.search(r"largest N with p95 < 1.5 s and no underruns \| (1|none) \|", text), text
