"""N simultaneous calls against one server: latency, audio underruns, CPU and memory per call.

Starts `callcentre serve` (real models) once and, for each N, places N simulated calls at the
same time (their starts spread over a few seconds, as real calls arrive), each playing the
sample caller turns. For each N it prints median and p95 voice-to-voice latency, underruns
(the agent's audio running dry mid-reply on the caller's phone, `bench/underruns.py`), the
server's CPU (per call, in % of one core) and its resident memory.

    .venv/bin/python bench/load.py --calls 1 2 3 4 6
    .venv/bin/python bench/load.py --calls 2 4 6 8 12 --stop-on-fail --budget-s 240

`--stop-on-fail` stops raising N at the first N past the bound (p95 under 1.5 s, no
underruns, no failed call); `--budget-s` stops before an N that would not finish in time
(`bench/gpu.sh` uses both). `--set realistic` plays the calls of `bench/turn_set.py`
(call i plays the set's call i, in turn) instead of the sample WAVs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency import TURN_FILES, percentile  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.thread_cpu import ThreadCPU  # noqa: E402
from bench.underruns import Underruns, underruns  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.signatures import sign  # noqa: E402
from telephony.simulator import answer_webhook, simulate_call  # noqa: E402

MB = 1024 * 1024
P95_GOAL_MS = 1500.0


class ProcessSampler:
    """Samples a process's resident memory in a thread; CPU comes from its CPU times."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self._process = psutil.Process(pid)
        self._every = every_s
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return self._process.memory_info().rss

    def cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.peak_rss = max(self.peak_rss, self.rss())

    def __enter__(self) -> ProcessSampler:
        self.peak_rss = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class LoadResult:
    calls: int
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    underruns: Underruns = field(default_factory=Underruns)
    failed: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    idle_rss: int = 0
    peak_rss: int = 0
    stages: ThreadCPU | None = None  # CPU by stage (thread names)

    def row(self) -> str:
        median = statistics.median(self.latencies) if self.latencies else float("nan")
        p95 = percentile(self.latencies, 0.95) if self.latencies else float("nan")
        cpu_per_call = 100 * self.cpu_s / self.wall_s / self.calls
        extra_mb = max(0, self.peak_rss - self.idle_rss) / MB  # RSS never shrinks: an upper bound
        return (
            f"| {self.calls} | {len(self.latencies)} | {self.unanswered + self.failed} | "
            f"{median:.0f} | {p95:.0f} | {self.underruns.count} "
            f"({self.underruns.seconds:.2f} s) | {cpu_per_call:.0f} | "
            f"{extra_mb / self.calls:.1f} | {self.peak_rss / MB:.0f} |"
        )

    @property
    def ok(self) -> bool:
        return (
            bool(self.latencies)
            and percentile(self.latencies, 0.95) < P95_GOAL_MS
            and self.underruns.count == 0
            and self.failed == 0
        )


async def one_call(
    server: LocalServer, files: list[Path], delay_s: float, result: LoadResult
) -> None:
    await asyncio.sleep(delay_s)
    try:
        call = await simulate_call(
            files,
            url=server.media_url,
            settings=server.settings,
            transcribe=False,
        )
    except Exception as exc:  # a refused or broken call counts against this N
        print(f"call failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        result.failed += 1
        return
    result.latencies += [t.latency_ms for t in call.turns if t.latency_ms is not None]
    result.unanswered += sum(t.latency_ms is None for t in call.turns)
    result.underruns.add(underruns(call))


async def run_load(
    server: LocalServer, calls: int, scripts: list[list[Path]], spread_s: float, idle_rss: int
) -> LoadResult:
    result = LoadResult(calls, idle_rss=idle_rss)
    assert server.process is not None
    result.stages = ThreadCPU(server.process.pid)
    with ProcessSampler(server.process.pid) as sampler, result.stages:
        cpu_before, started = sampler.cpu_seconds(), time.monotonic()
        delays = sorted(random.uniform(0, spread_s) for _ in range(calls))
        await asyncio.gather(
            *(one_call(server, scripts[i % len(scripts)], d, result) for i, d in enumerate(delays))
        )
        result.wall_s = time.monotonic() - started
        result.cpu_s = sampler.cpu_seconds() - cpu_before
    result.peak_rss = sampler.peak_rss
    return result


async def silent_call(server: LocalServer, index: int, hold_s: float) -> None:
    """A call that connects and says nothing (mu-law silence every 20 ms) for `hold_s`."""
    from websockets.asyncio.client import connect

    call_sid, stream_sid = f"CA{index:032x}", f"MZ{index:032x}"
    # As Twilio does: the signed webhook first, whose TwiML carries the stream's token.
    parameters = await answer_webhook(
        server.media_url, server.settings, call_sid=call_sid, caller="+15550001111"
    )
    signature = sign(server.settings, server.settings.stream_url, {})
    async with connect(
        server.media_url, additional_headers={"X-Twilio-Signature": signature}
    ) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "callSid": call_sid,
            "streamSid": stream_sid,
            "accountSid": "AC" + "1" * 32,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
        silence = base64.b64encode(b"\xff" * 160).decode()
        for _ in range(int(hold_s / 0.02)):
            await ws.send(
                json.dumps(
                    {"event": "media", "streamSid": stream_sid, "media": {"payload": silence}}
                )
            )
            await asyncio.sleep(0.02)


async def held_memory(server: LocalServer, calls: int, hold_s: float) -> tuple[int, int]:
    """(RSS before, RSS while `calls` connected calls are held): what a call keeps."""
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    holding = asyncio.gather(*(silent_call(server, i + 1, hold_s) for i in range(calls)))
    await asyncio.sleep(hold_s - 1.0)
    during = process.memory_info().rss
    await holding
    return before, during


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    parser.add_argument(
        "--spread", type=float, default=4.0, help="seconds over which each batch of calls starts"
    )
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "samples")
    parser.add_argument("--set", choices=["samples", "realistic"], default="samples")
    parser.add_argument(
        "--turns-per-call", type=int, default=0, help="play only each call's first turns"
    )
    parser.add_argument("--stop-on-fail", action="store_true", help="stop raising N past the bound")
    parser.add_argument("--budget-s", type=float, default=0, help="stop before running out of time")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--hold",
        type=int,
        default=8,
        help="silent calls held at once to measure what one call keeps",
    )
    args = parser.parse_args()
    random.seed(args.seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = dict(item.split("=", 1) for item in args.env)
    # The bench measures past the cap, and holds `--hold` silent calls at once.
    extra.setdefault("MAX_CALLS", str(max(*args.calls, args.hold)))
    scripts = load_scripts(args.set, args.samples, args.turns_per_call)
    results: list[LoadResult] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, LocalServer(Path(tmp), extra_env=extra) as srv:
        # One call first: what the process allocates once (lazy loads, caches) is not a call's.
        asyncio.run(one_call(srv, scripts[0], 0.0, LoadResult(1)))
        assert srv.process is not None
        held = asyncio.run(held_memory(srv, args.hold, 10.0)) if args.hold else None
        idle_rss = psutil.Process(srv.process.pid).memory_info().rss
        for calls in args.calls:
            if results and args.budget_s:  # the next N takes about as long as the last one
                left = args.budget_s - (time.monotonic() - began)
                if left < results[-1].wall_s + args.spread:
                    print(f"N={calls} skipped: {left:.0f} s of the budget left", file=sys.stderr)
                    break
            load = os.getloadavg()[0]
            results.append(asyncio.run(run_load(srv, calls, scripts, args.spread, idle_rss)))
            print(f"N={calls} done (load average before: {load:.2f})", file=sys.stderr)
            if args.stop_on_fail and not results[-1].ok:
                break
    print(f"machine: {describe()}")
    print(f"server RSS after one warm-up call: {idle_rss / MB:.0f} MB")
    if held:
        before, during = held
        print(
            f"{args.hold} silent calls held at once: {before / MB:.0f} -> {during / MB:.0f} MB, "
            f"{(during - before) / args.hold / MB:.1f} MB per call"
        )
    print()
    print(
        "| calls | turns | unanswered | median ms | p95 ms | underruns (silence) | "
        "CPU % of a core per call | MB per call | peak server RSS MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        print(result.row())
    for result in results:
        if result.stages is not None:
            print(f"\nCPU by stage, {result.calls} calls at once:\n")
            print(result.stages.table(result.calls, result.wall_s))
    for result in results:
        if result.underruns.gaps:
            gaps = ", ".join(
                f"reply {r} at {t:.1f} s: {g * 1000:.0f} ms"
                for r, t, g in sorted(result.underruns.gaps, key=lambda x: -x[2])[:6]
            )
            print(f"N={result.calls} longest gaps: {gaps}", file=sys.stderr)
    fits = [r.calls for r in results if r.ok]
    print(
        f"\nlargest N with p95 < {P95_GOAL_MS:.0f} ms and no underruns: "
        f"{max(fits) if fits else 'none'}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary(results, fits, idle_rss, held, args.hold)))
    return 0


def load_scripts(turn_set: str, samples: Path, turns: int) -> list[list[Path]]:
    """The calls' turn WAVs: the sample WAVs (one script) or the realistic set's calls."""
    if turn_set == "realistic":
        from bench.turn_set import turn_files

        scripts = turn_files()
    else:
        scripts = [[samples / f for f in TURN_FILES]]
    return [s[:turns] if turns else s for s in scripts]


def summary(results: list[LoadResult], fits: list[int], idle_rss: int, held, hold: int) -> dict:
    rows = [
        {
            "calls": r.calls,
            "turns": len(r.latencies),
            "unanswered": r.unanswered + r.failed,
            "median_ms": statistics.median(r.latencies) if r.latencies else None,
            "p95_ms": percentile(r.latencies, 0.95) if r.latencies else None,
            "underruns": r.underruns.count,
            "cpu_per_call_pct": 100 * r.cpu_s / r.wall_s / r.calls if r.wall_s else None,
            "ok": r.ok,
            "stages": r.stages.rows(r.calls, r.wall_s) if r.stages else [],
        }
        for r in results
    ]
    per_call = (held[1] - held[0]) / hold / MB if held else None
    return {"rows": rows, "largest_ok": max(fits) if fits else None,
            "idle_rss_mb": idle_rss / MB, "mb_per_held_call": per_call}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
