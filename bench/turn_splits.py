"""How often the server cuts one caller turn in two at a pause between its sentences.

Smart-Turn (`SMART_TURN=true`) ends a turn that sounds finished after `TURN_COMPLETE_SECS`
(0.45 s) of silence instead of `VAD_STOP_SECS` (0.6 s). A caller who pauses that long after
a finished sentence and then goes on is cut off: the agent answers half a turn and is
interrupted by the rest. This plays every turn of the realistic set that has two sentences
or more (`bench/turn_set.py`), with one fixed pause between its sentences, through the
simulator against a real server, and counts the server's caller turns for each played turn:
one is right, two or more is a split.

    .venv/bin/python bench/turn_splits.py --pauses 0.35 0.5 --env SMART_TURN=true
    .venv/bin/python bench/turn_splits.py --pauses 0.5            # today's defaults
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import turn_set  # noqa: E402
from bench.latency import read_events  # noqa: E402
from bench.machine import describe  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.simulator import simulate_call  # noqa: E402

CALL_TURNS = 4  # played turns per simulated call


def long_turns() -> list[turn_set.Turn]:
    return [turn for call in turn_set.CALLS for turn in call if len(turn.sentences) > 1]


def render(turns: list[turn_set.Turn], pause_s: float, folder: Path) -> list[Path]:
    """Each turn with `pause_s` between its sentences (the turn set's range set to one value)."""
    paths = []
    for i, turn in enumerate(turns):
        path = folder / f"{pause_s:.2f}-{i}.wav"
        audio = turn_set.render_turn(turn, seed=i, pauses=(pause_s, pause_s))
        sf.write(path, audio, turn_set.RATE, subtype="PCM_16")
        paths.append(path)
    return paths


async def play(server: LocalServer, paths: list[Path], verbose: bool) -> tuple[int, int, int]:
    """Played turns, turns split, and caller turns the server heard in all."""
    played = split = heard = 0
    for first in range(0, len(paths), CALL_TURNS):
        result = await simulate_call(
            paths[first : first + CALL_TURNS],
            url=server.media_url,
            settings=server.settings,
            transcribe=False,
        )
        events = await read_events(server.recordings, result.call_sid)
        turns = [e for e in events if e.get("type") == "caller_turn"]
        for t in result.turns:
            inside = [
                e for e in turns if t.caller_start_s - 0.5 <= e["start"] <= t.caller_end_s + 0.2
            ]
            played, heard = played + 1, heard + len(inside)
            split += len(inside) > 1
            if verbose and len(inside) != 1:
                print(f"  {t.source}: {[e.get('text') for e in inside]}", flush=True)
    return played, split, heard


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.35, 0.5])
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--verbose", action="store_true", help="print the split turns' words")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = dict(item.split("=", 1) for item in args.env)
    turns = long_turns()
    print(f"machine: {describe()}\nenv: {extra or 'defaults'}; {len(turns)} turns a pause\n")
    print("| pause between sentences | turns played | turns split | caller turns heard |")
    print("| ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(Path(tmp) / "server", extra_env=extra).start()
        try:
            for pause in args.pauses:
                folder = Path(tmp) / f"p{pause}"
                folder.mkdir()
                played, split, heard = asyncio.run(
                    play(server, render(turns, pause, folder), args.verbose)
                )
                print(f"| {pause:.2f} s | {played} | {split} | {heard} |", flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
