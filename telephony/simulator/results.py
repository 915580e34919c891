"""What a simulated call returns, and how it fails."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from telephony.audio_files import SAMPLE_RATE


class SimulatorError(Exception):
    """The server did not behave like Twilio expects; the message is one line for the terminal."""


class CallEnded(Exception):
    """The server closed the websocket while the caller still had something to do."""


@dataclass
class SimulatedTurn:
    """One caller turn and the agent's answer to it."""

    index: int
    source: str
    caller_start_s: float
    caller_end_s: float
    agent_first_audio_s: float | None = None
    latency_ms: float | None = None
    agent_text: str = ""
    # What the caller's line carried, heard back with Whisper (noise and echo included): close
    # to what the agent heard. Empty for keypad turns, or when not transcribed.
    caller_text: str = ""
    # What the server recorded the caller as saying in this turn, when its recording is here.
    agent_heard: str = ""


@dataclass
class SimulationResult:
    call_sid: str
    stream_sid: str
    caller: str
    greeting_text: str
    turns: list[SimulatedTurn]
    agent_audio: np.ndarray
    caller_audio: np.ndarray
    clears: list[float]
    marks_received: list[str]
    marks_echoed: list[str]
    events: list[dict[str, Any]]
    close_code: int | None

    @property
    def duration_s(self) -> float:
        return len(self.caller_audio) / SAMPLE_RATE

    @property
    def median_latency_ms(self) -> float | None:
        latencies = [t.latency_ms for t in self.turns if t.latency_ms is not None]
        return statistics.median(latencies) if latencies else None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "stream_sid": self.stream_sid,
            "caller": self.caller,
            "duration_s": round(self.duration_s, 3),
            "greeting_text": self.greeting_text,
            "turns": [asdict(turn) for turn in self.turns],
            "median_latency_ms": self.median_latency_ms,
            "clears": self.clears,
            "marks_received": self.marks_received,
            "marks_echoed": self.marks_echoed,
            "close_code": self.close_code,
            "events": self.events,
        }
