"""Voice-to-voice latency of the phone loop, ours against a pipecat-example baseline.

Starts `callcentre serve` (real models) and `bench/baseline_server.py` (the same models in a
pipeline built the way pipecat's Twilio example builds one), places simulated calls with the
sample caller WAVs against each in turn (alternating, so that both see the same load), and
prints median and p95 latency (end of caller speech -> first agent audio on the phone) with a
per-stage breakdown taken from each server's own event log.

    .venv/bin/python bench/latency.py --turns 24            # ours and the baseline
    .venv/bin/python bench/latency.py --turns 24 --only ours
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline_process import BaselineServer  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.stages import REPORTED, baseline_rows, our_rows  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.simulator import SimulationResult, simulate_call  # noqa: E402

TURN_FILES = ["hello.wav", "order_status.wav", "long_question.wav", "goodbye.wav"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Contender:
    """One server under test and what its calls produced."""

    name: str
    server: LocalServer
    rows_of: Callable[[SimulationResult, list[dict]], list[dict[str, float]]]
    events_dir: Path
    rows: list[dict[str, float]] = field(default_factory=list)
    turns: int = 0
    unanswered: int = 0

    async def call(self, samples: Path) -> None:
        result = await simulate_call(
            [samples / f for f in TURN_FILES],
            url=self.server.media_url,
            settings=self.server.settings,
            transcribe=False,
        )
        self.turns += len(result.turns)
        self.unanswered += sum(t.latency_ms is None for t in result.turns)
        self.rows += self.rows_of(result, await read_events(self.events_dir, result.call_sid))


async def read_events(folder: Path, call_sid: str) -> list[dict]:
    """The server's events for one call, once it has closed the call (or after 5 s)."""
    for _ in range(50):
        files = list(folder.rglob(f"{call_sid}.jsonl"))
        if files and "call_end" in files[0].read_text():
            break
        await asyncio.sleep(0.1)
    files = list(folder.rglob(f"{call_sid}.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


async def run_calls(contenders: list[Contender], turns: int, samples: Path) -> None:
    """Alternate calls between the contenders until each has `turns` measured turns."""
    while any(len(c.rows) < turns for c in contenders):
        for contender in contenders:
            if len(contender.rows) < turns:
                await contender.call(samples)


def measured(rows: list[dict[str, float | None]], key: str) -> list[float]:
    """The turns that have this stage (no LLM first token where no LLM ran)."""
    return [r[key] for r in rows if r.get(key) is not None]


def cell(values: list[float], q: float | None = None) -> str:
    """Median (or the q-th percentile) in ms; "-" when no turn had the stage."""
    if not values:
        return "-"
    return f"{statistics.median(values) if q is None else percentile(values, q):.0f}"


def table(rows: list[dict[str, float | None]]) -> str:
    lines = ["| stage | median ms | p95 ms |", "| --- | ---: | ---: |"]
    for key in ["total", *REPORTED]:
        values = measured(rows, key)
        name = "voice-to-voice (total)" if key == "total" else key.replace("_", " ")
        if key == "llm_first_token":
            name += f" ({len(values)} of {len(rows)} turns ran the LLM)"
        lines.append(f"| {name} | {cell(values)} | {cell(values, 0.95)} |")
    return "\n".join(lines)


def comparison(contenders: list[Contender]) -> str:
    lines = [
        "| pipeline | turns | unanswered | median ms | p95 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for c in contenders:
        totals = [r["total"] for r in c.rows]
        lines.append(
            f"| {c.name} | {len(totals)} | {c.unanswered} of {c.turns} | "
            f"{statistics.median(totals):.0f} | {percentile(totals, 0.95):.0f} |"
        )
    return "\n".join(lines)


def stage_comparison(contenders: list[Contender]) -> str:
    names = " | ".join(f"{c.name} median ms" for c in contenders)
    lines = [f"| stage | {names} |", "| --- |" + " ---: |" * len(contenders)]
    for key in ["total", *REPORTED]:
        cells = " | ".join(cell(measured(c.rows, key)) for c in contenders)
        lines.append(f"| {key.replace('_', ' ')} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=24)
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "samples")
    parser.add_argument("--only", choices=["ours", "baseline"], default=None)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for our server (to compare settings)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = dict(item.split("=", 1) for item in args.env)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        contenders = []
        if args.only != "baseline":
            ours = LocalServer(Path(tmp) / "ours", extra_env=extra).start()
            contenders.append(Contender("ours", ours, our_rows, ours.recordings))
        if args.only != "ours":
            base = BaselineServer(Path(tmp) / "baseline").start()
            contenders.append(Contender("pipecat baseline", base, baseline_rows, base.events))
        try:
            asyncio.run(run_calls(contenders, args.turns, args.samples))
        finally:
            for c in contenders:
                c.server.stop()
    load_after = os.getloadavg()
    print(f"machine: {describe()}")
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    for c in contenders:
        c.rows = c.rows[: args.turns]
        print(f"\n{c.name}: {len(c.rows)} turns\n\n{table(c.rows)}")
    print(f"\n{comparison(contenders)}")
    if len(contenders) == 2:
        ours_median = statistics.median(r["total"] for r in contenders[0].rows)
        base_median = statistics.median(r["total"] for r in contenders[1].rows)
        print(f"\nbaseline median / our median = {base_median / ours_median:.2f}x\n")
        print(stage_comparison(contenders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
