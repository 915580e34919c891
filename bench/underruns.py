"""Gaps in the agent's audio as the phone plays it, from when each 20 ms frame arrived.

Twilio plays the agent's frames back to back as they arrive. A frame that arrives after the
previous one has finished playing leaves the caller hearing silence in the middle of a
reply: an underrun. Frames are grouped by caller turn (everything the agent sends between
two caller turns is one reply), so the silence while the caller speaks is not counted.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from telephony.simulator import SimulationResult

FRAME_S = 0.02
JITTER_S = 0.005  # the simulator's own clock granularity is not an underrun


@dataclass
class Underruns:
    count: int = 0
    seconds: float = 0.0
    frames: int = 0

    def add(self, other: Underruns) -> None:
        self.count += other.count
        self.seconds += other.seconds
        self.frames += other.frames


def underruns(result: SimulationResult) -> Underruns:
    bounds = [t.caller_end_s for t in result.turns]
    found = Underruns()
    reply, play_until = -1, 0.0
    for event in result.events:
        if event.get("event") != "media":
            continue
        t = float(event["t"])
        size = int(event["media"].get("payload_bytes", 160))  # from base64: 160 reads 162
        frame_s = FRAME_S if size >= 156 else size / 8000
        this_reply = bisect.bisect_right(bounds, t)
        if this_reply != reply:  # a new reply starts playing at once
            reply, play_until = this_reply, t
        elif t > play_until + JITTER_S:
            found.count += 1
            found.seconds += t - play_until
            play_until = t
        play_until += frame_s
        found.frames += 1
    return found
