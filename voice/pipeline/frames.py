"""Frames of our own that travel through the pipecat pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, OutputTransportMessageFrame, SystemFrame


@dataclass
class AgentSentenceFrame(DataFrame):
    """One sentence of the agent's reply, ready to be spoken."""

    text: str = ""
    reply_id: int = 0
    index: int = 0
    last: bool = False


@dataclass
class PlaybackMarkFrame(SystemFrame):
    """Twilio echoed a mark: the audio queued before it has played (or was cleared)."""

    mark: str = ""


class SpeechMarkFrame(OutputTransportMessageFrame):
    """Ask Twilio to tell us when playback reaches this point (queued in order with audio)."""

    def __init__(self, name: str) -> None:
        super().__init__(message={"event": "mark", "mark": {"name": name}})
        self.mark_name = name


@dataclass
class LikelyTranscriptFrame(SystemFrame):
    """What the caller's turn says if the pause under way ends it: the reply's reading of it
    can be prepared before the turn end is decided (the caller may still speak on)."""

    text: str = ""


@dataclass
class ResumeFrame(DataFrame):
    """What stopped the agent was no turn after all (a backchannel the barge-in check
    misheard as words, or words Whisper doubts anyone said): it says again what was cut."""
