"""Voice-to-voice latency of the phone loop, measured end to end over the real websocket.

Starts `callcentre serve` (real models), places simulated calls with the sample caller WAVs,
and prints median and p95 latency (end of caller speech -> first agent audio on the phone)
with a per-stage breakdown taken from the server's call events.

    .venv/bin/python bench/latency.py --turns 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.simulator import simulate_call  # noqa: E402

TURN_FILES = ["hello.wav", "order_status.wav", "long_question.wav", "goodbye.wav"]
STAGES = ["turn_end_detection", "stt", "llm_first_sentence", "tts_first_audio",
          "playout_and_network"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def turn_rows(result, events: list[dict]) -> list[dict[str, float]]:
    """Join the simulator's view of each turn with the server's events for it."""
    callers = [e for e in events if e["type"] == "caller_turn"]
    agents = [e for e in events if e["type"] == "agent_turn" and e.get("stages_ms")]
    rows = []
    if len(callers) != len(result.turns) or len(agents) != len(result.turns):
        return rows  # an utterance was split or merged: its stages cannot be attributed
    for turn, caller, agent in zip(result.turns, callers, agents, strict=True):
        if turn.latency_ms is None:
            continue
        stages = agent["stages_ms"]
        detect = (caller["detected"] - turn.caller_end_s) * 1000
        stt, first, tts = stages["stt"], stages["first_sentence"] or 0, stages["tts_first_audio"]
        rows.append({"total": turn.latency_ms, "turn_end_detection": detect, "stt": stt,
                     "llm_first_sentence": first, "tts_first_audio": tts,
                     "playout_and_network": turn.latency_ms - detect - stt - first - tts})
    return rows


async def run_calls(server: LocalServer, turns: int, samples: Path) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    while len(rows) < turns:
        result = await simulate_call([samples / f for f in TURN_FILES], url=server.media_url,
                                     settings=server.settings, transcribe=False)
        events_file = next(server.recordings.rglob(f"{result.call_sid}.jsonl"))
        for _ in range(50):  # the server closes the call just after the simulator hangs up
            if "call_end" in events_file.read_text():
                break
            await asyncio.sleep(0.1)
        events = [json.loads(line) for line in events_file.read_text().splitlines()]
        rows += turn_rows(result, events)
    return rows[:turns]


def table(rows: list[dict[str, float]]) -> str:
    lines = ["| stage | median ms | p95 ms |", "| --- | ---: | ---: |"]
    for key in ["total", *STAGES]:
        values = [r[key] for r in rows]
        name = "voice-to-voice (total)" if key == "total" else key.replace("_", " ")
        lines.append(f"| {name} | {statistics.median(values):.0f} | "
                     f"{percentile(values, 0.95):.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=24)
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "samples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalServer(Path(tmp)) as server:
        rows = asyncio.run(run_calls(server, args.turns, args.samples))
    print(f"machine: {describe()}")
    print(f"turns: {len(rows)}\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
