"""What the server recorded the caller as saying, when its recordings are readable here (a
local server): the `caller_turn` events of the call's JSONL, matched to the simulated turns."""

from __future__ import annotations

import bisect
import glob
import json
from pathlib import Path
from typing import Any

from telephony.simulator.results import SimulationResult

# The server's clock starts when it opens the call, a little after the simulator's: a turn
# the server heard starting this much before a WAV's start still belongs to that WAV.
SLACK_S = 0.5


def server_heard(result: SimulationResult, recordings_dir: Path) -> list[str] | None:
    """Per simulated turn, what the server transcribed of it; None when its recording of the
    call is not here (a remote server, another RECORDINGS_DIR)."""
    pattern = str(Path(recordings_dir) / "*" / f"{glob.escape(result.call_sid)}.jsonl")
    paths = sorted(glob.glob(pattern))
    if not paths or not result.turns:
        return None
    starts = [turn.caller_start_s for turn in result.turns]
    heard = [""] * len(result.turns)
    for event in _caller_turns(Path(paths[-1])):
        index = bisect.bisect_right(starts, float(event["start"]) + SLACK_S) - 1
        if index >= 0:  # before the first WAV: line noise the server took for speech
            heard[index] = f"{heard[index]} {event['text']}".strip()
    return heard


def _caller_turns(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line the server was still writing
        if _is_caller_turn(event):
            events.append(event)
    return events


def _is_caller_turn(event: object) -> bool:
    return (
        isinstance(event, dict)
        and event.get("type") == "caller_turn"
        and isinstance(event.get("start"), int | float)
        and isinstance(event.get("text"), str)
    )
