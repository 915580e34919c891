"""Frames of the caller's turn taking, between the turn-end detector and the transcriber."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame, VADUserStoppedSpeakingFrame


@dataclass
class CallerPauseFrame(SystemFrame):
    """The caller went quiet: the turn may be over, so work on it can start (speculatively).

    Parameters:
        speech_end_s: when the speech stopped, on the call timeline.
    """

    speech_end_s: float = 0.0


@dataclass
class CallerResumedFrame(SystemFrame):
    """The caller spoke again after a pause that did not end the turn: drop that work."""


@dataclass
class CallerTurnEndFrame(VADUserStoppedSpeakingFrame):
    """The caller's turn is over (a VAD stop, for every processor that only needs that).

    `stop_secs` is the silence actually waited. `complete_probability` is Smart-Turn's
    verdict on the turn when it was asked (None when not).
    """

    complete_probability: float | None = None
    reason: str = "silence"  # "silence" (the long pause) or "complete" (Smart-Turn, shorter)
