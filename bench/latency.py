"""Voice-to-voice latency of the phone loop, ours against a pipecat-example baseline.

Starts `callcentre serve` (real models) and `bench/baseline_server.py` (the same models in a
pipeline built the way pipecat's Twilio example builds one), places simulated calls against
each in turn (alternating, so that all see the same load), and prints median and p95 latency
(end of caller speech -> first agent audio on the phone) with a per-stage breakdown taken from
each server's own event log, by turn length and by reply path.

The calls are the realistic turn set (`bench/turn_set.py`: 1-30 s turns, a natural voice and
espeak, complaints and questions the agent does not recognise) or, with `--set samples`, the
four sample WAVs of `data/samples` (the set before issue 15). Three servers by default:

- `ours`: today's defaults (replies the turn manager words from the facts; no LLM);
- `ours, LLM replies`: `LLM_COMPOSE_ANSWERS=true`, so the packaged LLM words every reply that
  may be worded (complaints, unrecognised and policy questions, look-ups): the LLM path;
- `pipecat baseline`: its LLM answers every turn.

The baseline ratio is reported twice: as today (all turns, whatever path ours took), and with
the same reply path on both sides (the turns ours answered through the LLM, against the
baseline's answers to those same turns), so the ratio measures the pipeline, not the LLM.

    .venv/bin/python bench/latency.py                         # the whole set, three servers
    .venv/bin/python bench/latency.py --only ours --turns 8   # a quick look
    .venv/bin/python bench/latency.py --set samples --turns 24
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
from bench.turn_set import CALLS, LENGTH_CLASSES, length_class, seconds, turn_files  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.simulator import SimulationResult, simulate_call  # noqa: E402

TURN_FILES = ["hello.wav", "order_status.wav", "long_question.wav", "goodbye.wav"]
CONTENDERS = {
    "ours": {},
    "llm": {"LLM_COMPOSE_ANSWERS": "true"},
    "baseline": None,
}
NAMES = {"ours": "ours", "llm": "ours, LLM replies", "baseline": "pipecat baseline"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Script:
    """One call's caller turns, with what each is (for the tables)."""

    number: int
    files: list[Path]
    voices: list[str]

    def describe(self, turn: int) -> dict:
        s = seconds(self.files[turn])
        return {"call": self.number, "seconds": round(s, 2), "length": length_class(s),
                "voice": self.voices[turn]}  # fmt: skip


def scripts(turn_set: str, samples: Path) -> list[Script]:
    if turn_set == "samples":
        return [Script(0, [samples / f for f in TURN_FILES], ["espeak"] * len(TURN_FILES))]
    return [
        Script(n, files, [t.voice for t in call])
        for n, (files, call) in enumerate(zip(turn_files(), CALLS, strict=True))
    ]


@dataclass
class Contender:
    """One server under test and what its calls produced."""

    name: str
    server: LocalServer
    rows_of: Callable[[SimulationResult, list[dict]], list[dict]]
    events_dir: Path
    rows: list[dict] = field(default_factory=list)
    turns: int = 0
    unanswered: int = 0

    async def call(self, script: Script) -> None:
        result = await simulate_call(
            script.files,
            url=self.server.media_url,
            settings=self.server.settings,
            transcribe=False,
        )
        self.turns += len(result.turns)
        self.unanswered += sum(t.latency_ms is None for t in result.turns)
        events = await read_events(self.events_dir, result.call_sid)
        self.rows += [
            {**row, **script.describe(row["turn"])} for row in self.rows_of(result, events)
        ]


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


async def run_calls(contenders: list[Contender], turns: int, calls: list[Script]) -> None:
    """Alternate calls between the contenders until each has `turns` measured turns; every
    contender plays the same calls in the same order."""
    played = 0
    while any(len(c.rows) < turns for c in contenders):
        script = calls[played % len(calls)]
        for contender in contenders:
            if len(contender.rows) < turns:
                await contender.call(script)
        played += 1


def measured(rows: list[dict], key: str) -> list[float]:
    """The turns that have this stage (no LLM first token where no LLM ran)."""
    return [r[key] for r in rows if r.get(key) is not None]


def cell(values: list[float], q: float | None = None) -> str:
    """Median (or the q-th percentile) in ms; "-" when no turn had the stage."""
    if not values:
        return "-"
    return f"{statistics.median(values) if q is None else percentile(values, q):.0f}"


def table(rows: list[dict]) -> str:
    lines = ["| stage | median ms | p95 ms |", "| --- | ---: | ---: |"]
    for key in ["total", *REPORTED]:
        values = measured(rows, key)
        name = "voice-to-voice (total)" if key == "total" else key.replace("_", " ")
        if key == "stt":
            name += " (left after the turn end)"
        if key == "llm_first_token":
            name += f" ({len(values)} of {len(rows)} turns ran the LLM)"
        lines.append(f"| {name} | {cell(values)} | {cell(values, 0.95)} |")
    return "\n".join(lines)


def by_group(rows: list[dict]) -> str:
    """Voice-to-voice and STT-after-the-end by turn length, reply path and voice."""
    lines = [
        "| turns | n | median ms | p95 ms | stt left median | stt left p95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    groups = [("all", rows)]
    groups += [(f"length {c}", [r for r in rows if r["length"] == c]) for c in LENGTH_CLASSES]
    groups += [(f"path {p}", [r for r in rows if r["path"] == p]) for p in ("prepared", "llm")]
    groups += [(f"voice {v}", [r for r in rows if r["voice"] == v]) for v in ("natural", "espeak")]
    for name, group in groups:
        if not group:
            continue
        totals, stt = measured(group, "total"), measured(group, "stt")
        lines.append(
            f"| {name} | {len(group)} | {cell(totals)} | {cell(totals, 0.95)} | "
            f"{cell(stt)} | {cell(stt, 0.95)} |"
        )
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
            f"{cell(totals)} | {cell(totals, 0.95)} |"
        )
    return "\n".join(lines)


def ratios(contenders: list[Contender]) -> str:
    """Baseline median / ours: over all turns, and over the turns ours sent to its LLM."""
    base = next((c for c in contenders if c.name == NAMES["baseline"]), None)
    if base is None or not base.rows:
        return ""
    by_turn = {(r["call"], r["turn"]): r["total"] for r in base.rows}
    lines = ["| ours | baseline median / ours, all turns | same reply path (LLM turns) |",
             "| --- | ---: | ---: |"]  # fmt: skip
    for c in contenders:
        if c is base or not c.rows:
            continue
        today = statistics.median(by_turn.values()) / statistics.median(r["total"] for r in c.rows)
        llm = [r for r in c.rows if r["path"] == "llm" and (r["call"], r["turn"]) in by_turn]
        same = "no turn of ours ran the LLM"
        if llm:
            theirs = statistics.median(by_turn[(r["call"], r["turn"])] for r in llm)
            same = f"{theirs / statistics.median(r['total'] for r in llm):.2f}x over {len(llm)}"
        lines.append(f"| {c.name} | {today:.2f}x | {same} |")
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
    parser.add_argument("--turns", type=int, default=0, help="per server (default: the set)")
    parser.add_argument("--set", choices=["realistic", "samples"], default="realistic")
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "samples")
    parser.add_argument(
        "--only", nargs="+", choices=list(CONTENDERS), default=list(CONTENDERS), metavar="NAME",
        help="servers to run: ours, llm (ours with LLM replies), baseline",
    )  # fmt: skip
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for our servers (to compare settings)",
    )
    parser.add_argument("--json", type=Path, help="also write every measured turn here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = dict(item.split("=", 1) for item in args.env)
    calls = scripts(args.set, args.samples)
    turns = args.turns or sum(len(s.files) for s in calls)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        contenders = []
        try:
            for key in args.only:
                env = CONTENDERS[key]
                if env is None:
                    base = BaselineServer(Path(tmp) / key).start()
                    contenders.append(Contender(NAMES[key], base, baseline_rows, base.events))
                else:
                    ours = LocalServer(Path(tmp) / key, extra_env={**extra, **env}).start()
                    contenders.append(Contender(NAMES[key], ours, our_rows, ours.recordings))
            asyncio.run(run_calls(contenders, turns, calls))
        finally:
            for c in contenders:
                c.server.stop()
    load_after = os.getloadavg()
    print(f"machine: {describe()}")
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"turn set: {args.set}, {turns} turns per server" + (f", env {extra}" if extra else ""))
    for c in contenders:
        c.rows = c.rows[:turns]
        print(f"\n{c.name}: {len(c.rows)} turns\n\n{table(c.rows)}\n\n{by_group(c.rows)}")
    print(f"\n{comparison(contenders)}")
    if len(contenders) > 1:
        print(f"\n{ratios(contenders)}\n\n{stage_comparison(contenders)}")
    if args.json:
        servers = {c.name: c.rows for c in contenders}
        load = [load_before[0], load_after[0]]
        args.json.write_text(json.dumps({"load_average": load, "servers": servers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
