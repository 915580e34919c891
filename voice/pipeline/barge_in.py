"""Barge-in: the caller talks over the agent, so the agent stops and Twilio drops its audio."""

from __future__ import annotations

from pipecat.frames.frames import (
    Frame,
    UserSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.session import CallSession


class BargeInDetector(FrameProcessor):
    """Interrupts when the caller has spoken for `min_secs` while the agent is audible.

    The minimum length keeps a cough or a short "mm-hm" from cutting the agent off.
    """

    def __init__(self, session: CallSession, min_secs: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._min_secs = min_secs
        self._speech_start: float | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._speech_start = self._session.elapsed() - frame.start_secs
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speech_start = None
        elif isinstance(frame, UserSpeakingFrame):
            await self._maybe_interrupt()
        await self.push_frame(frame, direction)

    async def _maybe_interrupt(self) -> None:
        if self._speech_start is None or not self._session.playback.agent_speaking:
            return
        if self._session.elapsed() - self._speech_start < self._min_secs:
            return
        dropped = self._session.playback.cleared()
        self._session.event(
            "barge_in",
            caller_speech_start=round(self._speech_start, 3),
            dropped_sentences=[s.mark for s in dropped],
        )
        self._speech_start = None  # one interruption per stretch of speech
        await self.broadcast_interruption()
