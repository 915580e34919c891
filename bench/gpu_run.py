"""The GPU run behind `bench/gpu.sh`: Whisper, the LLM, the latency and the load benchmark.

On a machine with a CUDA GPU, within a time budget (8 minutes by default, model loads
included), it measures:

1. Whisper's real-time factor on the GPU (float16), over the realistic turn set on the phone
   path (`bench/turn_set.py`);
2. the local LLM's first-token time and tokens per second (bf16 on the GPU when torch sees
   one; the CPU wheel `make install` puts in runs it on the CPU, and the table says so);
3. `bench/latency.py` (our server, default replies and LLM replies), median and p95;
4. `bench/load.py` with N rising until p95 passes 1.5 s or playout underruns (the largest N
   within the bound), as far as the budget allows;

and writes them, with the machine, into `docs/benchmarks.md` (between the markers of the GPU
section, replacing the previous run). `--cpu-smoke` runs the same steps on the CPU with tiny
sizes (two clips, a few tokens, two turns, one call) and writes to `--out` (a test runs it).

    bench/gpu.sh                  # what to run on the GPU machine
    .venv/bin/python bench/gpu_run.py --cpu-smoke --out /tmp/gpu.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

BEGIN = "<!-- bench/gpu.sh: begin -->"
END = "<!-- bench/gpu.sh: end -->"
PROMPTS = [
    "A caller says their parcel arrived wet. Apologise in one short sentence.",
    "Say in one sentence that a refund takes five business days.",
    "Tell the caller, briefly, that their order has shipped and arrives on Tuesday.",
]


@dataclass(frozen=True)
class Sizes:
    """How much each step does: the GPU run's, or the CPU smoke test's tiny ones."""

    device: str
    clips: int  # Whisper clips (0: every turn of the set)
    llm_runs: int
    llm_tokens: int
    latency_args: tuple[str, ...]
    load_args: tuple[str, ...]


GPU = Sizes(
    "cuda",
    0,
    len(PROMPTS),
    60,
    ("--only", "llm", "--turns", "13"),
    ("--set", "samples", "--turns-per-call", "2", "--calls", "4", "8", "12", "16", "24", "32",
     "48", "64", "--hold", "8", "--stop-on-fail"),
)  # fmt: skip
SMOKE = Sizes(
    "cpu",
    2,
    1,
    6,
    ("--only", "ours", "--set", "samples", "--turns", "1"),
    ("--set", "samples", "--turns-per-call", "1", "--calls", "1", "--hold", "1",
     "--stop-on-fail"),
)  # fmt: skip


@dataclass
class Run:
    sizes: Sizes
    deadline: float
    results: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def left(self) -> float:
        return self.deadline - time.monotonic()


def whisper_rtf(run: Run) -> None:
    """Real-time factor (seconds of compute per second of audio) on the phone path."""
    import soundfile as sf

    from bench.stt_window import phone
    from bench.turn_set import turn_files
    from voice.engines.stt import SpeechToText

    files = [f for call in turn_files() for f in call]
    files = files[: run.sizes.clips] if run.sizes.clips else files
    clips = []
    for path in files:
        audio, rate = sf.read(path, dtype="float32")
        clips.append(phone(audio, rate))
    started = time.perf_counter()
    stt = SpeechToText(device=run.sizes.device)
    stt.warm_up()
    loaded = time.perf_counter() - started
    elapsed, audio_s, times = 0.0, 0.0, []
    for clip in clips:
        t0 = time.perf_counter()
        stt.transcribe_sync(clip)
        times.append(time.perf_counter() - t0)
        elapsed, audio_s = elapsed + times[-1], audio_s + len(clip) / 16000
    run.results["whisper"] = {
        "device": f"{stt.device}/{'float16' if stt.device == 'cuda' else 'int8'}",
        "clips": len(clips),
        "audio_s": round(audio_s, 1),
        "rtf": round(elapsed / audio_s, 4),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "load_s": round(loaded, 1),
    }


def llm_speed(run: Run) -> None:
    """First-token time and tokens per second of the local LLM, one reply at a time."""
    from voice.engines.llm import load_llm
    from voice.engines.models import detect_devices

    device = detect_devices(run.sizes.device).torch
    started = time.perf_counter()
    llm = load_llm("transformers", "", device, "", "", run.sizes.llm_tokens)
    llm.warm_up()
    loaded = time.perf_counter() - started

    async def one(prompt: str) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        first, text = None, ""
        async for piece in llm.stream([{"role": "user", "content": prompt}]):
            first = first or time.perf_counter()
            text += piece
        end = time.perf_counter()
        tokens = len(llm.tokenizer(text, add_special_tokens=False)["input_ids"])
        return (first or end) - t0, end - (first or end), tokens

    measured = [asyncio.run(one(p)) for p in PROMPTS[: run.sizes.llm_runs]]
    decode_s = sum(m[1] for m in measured)
    tokens = sum(max(0, m[2] - 1) for m in measured)  # the first token is the first token's
    run.results["llm"] = {
        "device": device if device != "cuda" else "cuda/bfloat16",
        "runs": len(measured),
        "first_token_ms": round(statistics.median(m[0] for m in measured) * 1000, 1),
        "tokens_per_s": round(tokens / decode_s, 1) if decode_s > 0 else None,
        "tokens": sum(m[2] for m in measured),
        "load_s": round(loaded, 1),
    }
    if device != "cuda" and run.sizes.device == "cuda":
        run.notes.append(
            "torch is the CPU wheel here (`make install` pins it), so the LLM ran on the CPU; "
            "Whisper ran on the GPU through CTranslate2."
        )


def bench_script(run: Run, name: str, script: str, args: tuple[str, ...], share: float) -> None:
    """Run one of the bench scripts with a share of the time left; keep its JSON."""
    timeout = max(30.0, run.left() * share)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        extra = ("--budget-s", f"{timeout - 90:.0f}") if script == "load.py" else ()
        command = [sys.executable, str(ROOT / "bench" / script), *args, *extra, "--json", str(out)]
        env = {**os.environ, "DEVICE": run.sizes.device, "HF_HUB_OFFLINE": "1"}
        started = time.monotonic()
        try:
            done = subprocess.run(command, env=env, timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            run.failures.append(f"{script} did not finish within {timeout:.0f} s")
            return
        print(done.stdout, file=sys.stderr)
        if done.returncode != 0 or not out.exists():
            run.failures.append(f"{script} failed ({done.returncode}): {done.stderr[-400:]}")
            return
        run.results[name] = {**json.loads(out.read_text()), "seconds": time.monotonic() - started}


def latency_rows(result: dict) -> list[str]:
    from bench.latency import cell, measured

    lines = []
    for server, rows in result["servers"].items():
        for path in ("all", "prepared", "llm"):
            group = rows if path == "all" else [r for r in rows if r.get("path") == path]
            if group:
                totals, stt = measured(group, "total"), measured(group, "stt")
                lines.append(
                    f"| {server}, {path} turns | {len(group)} | {cell(totals)} | "
                    f"{cell(totals, 0.95)} | {cell(stt)} |"
                )
    return lines


def section(run: Run, machine: str, seconds: float) -> str:
    r = run.results
    mode = "CPU smoke run (tiny sizes)" if run.sizes.device == "cpu" else "GPU run"
    lines = [
        BEGIN,
        f"## {mode} — `bench/gpu.sh`",
        "",
        f"{date.today().isoformat()}, machine: {machine}; the whole script took {seconds:.0f} s.",
        "",
        "| what | result |",
        "| --- | --- |",
    ]
    if "whisper" in r:
        w = r["whisper"]
        lines.append(
            f"| Whisper base ({w['device']}) real-time factor | {w['rtf']} over {w['clips']} "
            f"turns ({w['audio_s']} s of audio; median {w['median_ms']} ms, max {w['max_ms']} ms "
            f"a turn; load {w['load_s']} s) |"
        )
    if "llm" in r:
        m = r["llm"]
        lines.append(
            f"| LLM SmolLM2-135M ({m['device']}) first token | {m['first_token_ms']} ms "
            f"(median of {m['runs']}) |"
        )
        lines.append(f"| LLM tokens per second | {m['tokens_per_s']} ({m['tokens']} tokens) |")
    if "load" in r:
        largest = r["load"]["largest_ok"]
        lines.append(
            f"| `bench/load.py`: largest N with p95 < 1.5 s and no underruns | "
            f"{largest if largest is not None else 'none'} |"
        )
    if "latency" in r:
        lines += [
            "",
            "`bench/latency.py` (voice to voice, ms):",
            "",
            "| server, turns | n | median | p95 | stt left median |",
            "| --- | ---: | ---: | ---: | ---: |",
            *latency_rows(r["latency"]),
        ]
    if "load" in r:
        lines += [
            "",
            "`bench/load.py` (ms):",
            "",
            "| calls | turns | unanswered | median | p95 | underruns | CPU % of a core per call |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in r["load"]["rows"]:
            lines.append(
                f"| {row['calls']} | {row['turns']} | {row['unanswered']} | "
                f"{_ms(row['median_ms'])} | {_ms(row['p95_ms'])} | {row['underruns']} | "
                f"{_ms(row['cpu_per_call_pct'])} |"
            )
    lines += ["", *[f"Note: {n}" for n in run.notes], *[f"Failed: {f}" for f in run.failures]]
    lines.append(END)
    return "\n".join(line for line in lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def write_section(path: Path, text: str) -> None:
    """Replace the GPU section of `path` (or add it at the end)."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="the same steps, CPU, tiny")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--budget-s", type=float, default=450.0, help="for the whole run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = SMOKE if args.cpu_smoke else GPU
    began = time.monotonic()
    if not args.cpu_smoke:
        from voice.engines.models import ctranslate2_sees_cuda

        if not ctranslate2_sees_cuda():
            print(
                "no CUDA GPU that CTranslate2 can use (driver, libcublas and libcudnn); "
                "bench/gpu.sh --cpu-smoke runs the same steps on the CPU",
                file=sys.stderr,
            )
            return 2
    run = Run(sizes, began + args.budget_s)
    steps = [
        ("whisper", lambda: whisper_rtf(run)),
        ("llm", lambda: llm_speed(run)),
        ("latency", lambda: bench_script(run, "latency", "latency.py", sizes.latency_args, 0.45)),
        ("load", lambda: bench_script(run, "load", "load.py", sizes.load_args, 0.95)),
    ]
    for name, step in steps:
        print(f"[gpu_run] {name} ({run.left():.0f} s left)", file=sys.stderr)
        try:
            step()
        except Exception as exc:  # one step failing still leaves the others' numbers
            run.failures.append(f"{name} failed: {type(exc).__name__}: {exc}")
    text = section(run, describe(), time.monotonic() - began)
    write_section(args.out, text)
    print(text)
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
