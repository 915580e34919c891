"""Speak each sentence as soon as it is ready, with a Twilio mark after it."""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.frames import AgentSentenceFrame, SpeechMarkFrame
from voice.session import CallSession
from voice.speech_text import for_speech
from voice.tts import SpeechSynthesizer


class SentenceSpeaker(FrameProcessor):
    def __init__(self, session: CallSession, tts: SpeechSynthesizer, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session, self._tts = session, tts
        self._speaking = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, AgentSentenceFrame):
            await self._speak(frame)
            return
        if isinstance(frame, InterruptionFrame):
            self._speaking = False
            self._session.playback.cleared()  # anything queued after the barge-in decision
        await self.push_frame(frame, direction)

    async def _speak(self, frame: AgentSentenceFrame) -> None:
        playback = self._session.playback
        if frame.text:
            started = time.perf_counter()
            pcm = await self._tts.synthesize(for_speech(frame.text))
            tts_ms = (time.perf_counter() - started) * 1000
            if not self._speaking:
                self._speaking = True
                await self.push_frame(TTSStartedFrame())
            duration = len(pcm) / 2 / self._tts.sample_rate
            sentence = playback.queued(frame.reply_id, frame.index, frame.text, duration,
                                       last=False, tts_ms=tts_ms)
            await self.push_frame(TTSAudioRawFrame(pcm, self._tts.sample_rate, 1))
            await self.push_frame(SpeechMarkFrame(sentence.mark))
        if frame.last:
            end = playback.queued(frame.reply_id, frame.index + 1, "", 0.0, last=True)
            await self.push_frame(SpeechMarkFrame(end.mark))
            if self._speaking:
                self._speaking = False
                await self.push_frame(TTSStoppedFrame())
