"""Soak: simulated calls back to back against one `callcentre serve` for a set time.

Starts the server (real models), keeps `--concurrency` calls going until `--minutes` have
passed, samples the server's memory (RSS), open file descriptors and threads every few
seconds, then lets it idle and samples once more. Prints calls completed, errors, turn
latency drift (median of the first tenth of calls against the last tenth), memory growth and
file handles: a leak shows as RSS or fds that keep climbing, or that stay up after the idle.

    .venv/bin/python bench/soak.py --minutes 5 --concurrency 2
    .venv/bin/python bench/soak.py                           # 30 minutes, 3 at a time
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.simulator import simulate_call  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
# Short, varied calls: a greeting and one or two caller turns each.
SCRIPTS = [
    ["hello.wav"],
    ["order_status.wav", "goodbye.wav"],
    ["agent_please.wav"],
    ["long_question.wav"],
]
SAMPLE_EVERY_S = 5.0
IDLE_AFTER_S = 20.0


@dataclass
class CallRecord:
    script: str
    started_s: float
    seconds: float
    turns: int = 0
    unanswered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error: str = ""


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    fds: int
    threads: int
    active_calls: int


@dataclass
class Soak:
    server: LocalServer
    minutes: float
    concurrency: int
    calls: list[CallRecord] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.began

    async def caller(self, index: int, deadline: float) -> None:
        n = index
        while time.monotonic() < deadline:
            script = [SAMPLES / name for name in SCRIPTS[n % len(SCRIPTS)]]
            n += self.concurrency
            await self.one_call(script)

    async def one_call(self, script: list[Path]) -> None:
        started = self.now()
        record = CallRecord("+".join(p.stem for p in script), started_s=started, seconds=0.0)
        try:
            result = await simulate_call(
                script, url=self.server.media_url, settings=self.server.settings, transcribe=False
            )
            record.turns = len(result.turns)
            record.latencies_ms = [t.latency_ms for t in result.turns if t.latency_ms is not None]
            record.unanswered = record.turns - len(record.latencies_ms)
        except Exception as exc:  # counted, and the soak goes on: that is what it measures
            record.error = f"{type(exc).__name__}: {exc}"[:200]
        record.seconds = self.now() - started
        self.calls.append(record)

    async def sampler(self, stop: asyncio.Event) -> None:
        process = psutil.Process(self.server.process.pid)
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                self.samples.append(await self.sample(process, client))
                try:
                    await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
                    return
                except TimeoutError:
                    pass

    async def sample(self, process: psutil.Process, client: httpx.AsyncClient) -> Sample:
        try:
            active = (await client.get(f"{self.server.http}/healthz")).json()["active_calls"]
        except (httpx.HTTPError, ValueError, KeyError):
            active = -1
        family = [process, *process.children(recursive=True)]
        return Sample(
            self.now(),
            sum(p.memory_info().rss for p in family) / 2**20,
            sum(p.num_fds() for p in family),
            process.num_threads(),
            active,
        )

    async def run(self) -> None:
        stop = asyncio.Event()
        sampling = asyncio.create_task(self.sampler(stop))
        deadline = time.monotonic() + self.minutes * 60
        await asyncio.gather(*(self.caller(i, deadline) for i in range(self.concurrency)))
        await asyncio.sleep(IDLE_AFTER_S)  # let every call close and the server settle
        stop.set()
        await sampling


def median_latency(calls: list[CallRecord]) -> float | None:
    values = [v for c in calls for v in c.latencies_ms]
    return statistics.median(values) if values else None


def deciles(calls: list[CallRecord]) -> tuple[list[CallRecord], list[CallRecord]]:
    ordered = sorted((c for c in calls if not c.error), key=lambda c: c.started_s)
    tenth = max(1, len(ordered) // 10)
    return ordered[:tenth], ordered[-tenth:]


def drift_by_script(calls: list[CallRecord]) -> dict[str, list[float | None]]:
    """Each script's median latency over its first and its last third of calls: the same
    audio early and late, so a slower last decile is not just a harder script."""
    drift: dict[str, list[float | None]] = {}
    for script in sorted({c.script for c in calls}):
        runs = sorted(
            (c for c in calls if c.script == script and not c.error), key=lambda c: c.started_s
        )
        third = max(1, len(runs) // 3)
        if len(runs) >= 2:
            drift[script] = [median_latency(runs[:third]), median_latency(runs[-third:])]
    return drift


def report(soak: Soak) -> dict:
    ok = [c for c in soak.calls if not c.error]
    first, last = deciles(soak.calls)
    loaded = [s for s in soak.samples if s.active_calls != 0] or soak.samples
    # Memory from after the first minute: model warm-up and first-call caches are not a leak.
    warm = [s for s in loaded if s.t_s >= 60] or loaded
    idle = soak.samples[-1]
    return {
        "minutes": soak.minutes,
        "concurrency": soak.concurrency,
        "calls_completed": len(ok),
        "call_errors": len(soak.calls) - len(ok),
        "turns": sum(c.turns for c in ok),
        "unanswered_turns": sum(c.unanswered for c in ok),
        "errors": sorted({c.error for c in soak.calls if c.error})[:5],
        "latency_first_decile_ms": median_latency(first),
        "latency_last_decile_ms": median_latency(last),
        "latency_all_median_ms": median_latency(ok),
        "latency_drift_by_script_ms": drift_by_script(soak.calls),
        "rss_start_mb": soak.samples[0].rss_mb,
        "rss_warm_mb": warm[0].rss_mb,
        "rss_peak_mb": max(s.rss_mb for s in soak.samples),
        "rss_end_loaded_mb": loaded[-1].rss_mb,
        "rss_idle_after_mb": idle.rss_mb,
        "rss_slope_mb_per_hour": slope([(s.t_s, s.rss_mb) for s in warm]) * 3600,
        "fds_start": soak.samples[0].fds,
        "fds_peak": max(s.fds for s in soak.samples),
        "fds_idle_after": idle.fds,
        "threads_start": soak.samples[0].threads,
        "threads_idle_after": idle.threads,
        "active_calls_idle_after": idle.active_calls,
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (per second); 0 with fewer than two points."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def markdown(result: dict) -> str:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f}"

    rows = [
        ("calls completed / errors", f"{result['calls_completed']} / {result['call_errors']}"),
        ("caller turns / unanswered", f"{result['turns']} / {result['unanswered_turns']}"),
        ("turn latency median, first tenth of calls (ms)", ms(result["latency_first_decile_ms"])),
        ("turn latency median, last tenth of calls (ms)", ms(result["latency_last_decile_ms"])),
        ("turn latency median, all (ms)", ms(result["latency_all_median_ms"])),
        *(
            (
                f"`{script}`: median latency, first / last third of its calls (ms)",
                f"{ms(first)} / {ms(last)}",
            )
            for script, (first, last) in result["latency_drift_by_script_ms"].items()
        ),
        (
            "server RSS at start / after 1 min / peak (MB)",
            f"{result['rss_start_mb']:.0f} / {result['rss_warm_mb']:.0f} / "
            f"{result['rss_peak_mb']:.0f}",
        ),
        (
            "server RSS at the end of load / after idling (MB)",
            f"{result['rss_end_loaded_mb']:.0f} / {result['rss_idle_after_mb']:.0f}",
        ),
        ("RSS trend after warm-up (MB per hour)", f"{result['rss_slope_mb_per_hour']:+.0f}"),
        (
            "open fds at start / peak / after idling",
            f"{result['fds_start']} / {result['fds_peak']} / {result['fds_idle_after']}",
        ),
        (
            "threads at start / after idling",
            f"{result['threads_start']} / {result['threads_idle_after']}",
        ),
        ("active calls after idling", str(result["active_calls_idle_after"])),
    ]
    return "\n".join(
        ["| soak | value |", "| --- | ---: |", *(f"| {name} | {value} |" for name, value in rows)]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument(
        "--samples-json",
        type=Path,
        default=None,
        help="write every RSS/fd sample here (for plotting)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalServer(
            Path(tmp) / "soak",
            # a finished call's slot frees a moment after its websocket closes
            extra_env={"MAX_CALLS": str(args.concurrency + 1)},
        ) as server,
    ):
        soak = Soak(server, args.minutes, args.concurrency)
        asyncio.run(soak.run())
    result = report(soak)
    print(f"machine: {describe()}")
    print(f"soak: {args.minutes:g} min, {args.concurrency} calls at a time\n")
    print(markdown(result))
    if result["errors"]:
        print("\nerrors:\n" + "\n".join(f"- {e}" for e in result["errors"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.samples_json:
        args.samples_json.write_text(json.dumps([asdict(s) for s in soak.samples]))
    return 0 if result["call_errors"] == 0 and result["unanswered_turns"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
