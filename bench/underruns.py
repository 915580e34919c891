"""Gaps in the agent's audio as the phone plays it, from when each 20 ms frame arrived.

The simulator plays like Twilio: on every 20 ms tick of the call's clock it plays the next
queued frame of agent audio, if one has arrived. A tick that finds nothing queued while a
reply is still coming leaves the caller hearing silence in the middle of it: an underrun.
Frames are grouped by caller turn (everything the agent sends between two caller turns is
one reply), so the silence while the caller speaks, or before a reply starts, is not counted.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from telephony.simulator import SimulationResult

FRAME_S = 0.02


@dataclass
class Underruns:
    count: int = 0  # stretches of silence inside replies
    seconds: float = 0.0
    frames: int = 0
    gaps: list[tuple[int, float, float]] = field(default_factory=list)  # (reply, at, silence)

    def add(self, other: Underruns) -> None:
        self.count += other.count
        self.seconds += other.seconds
        self.frames += other.frames
        self.gaps += other.gaps


def underruns(result: SimulationResult) -> Underruns:
    bounds = [t.caller_end_s for t in result.turns]
    replies: dict[int, list[float]] = {}
    for event in result.events:
        if event.get("event") == "media":
            t = float(event["t"])
            replies.setdefault(bisect.bisect_right(bounds, t), []).append(t)
    found = Underruns()
    for reply, arrivals in replies.items():
        _play(reply, sorted(arrivals), found)
    return found


def _play(reply: int, arrivals: list[float], found: Underruns) -> None:
    """Play one reply's frames on the 20 ms ticks, one frame a tick once it has arrived."""
    tick = math.ceil(arrivals[0] / FRAME_S - 1e-9)
    empty_since: int | None = None
    for arrived in arrivals:
        ready = math.ceil(arrived / FRAME_S - 1e-9)  # the first tick after it arrived
        if ready > tick:  # the ticks in between found the queue empty
            empty_since = tick
            tick = ready
        if empty_since is not None:
            silence = (tick - empty_since) * FRAME_S
            found.count += 1
            found.seconds += silence
            found.gaps.append((reply, round(tick * FRAME_S, 3), round(silence, 3)))
            empty_since = None
        tick += 1
        found.frames += 1
