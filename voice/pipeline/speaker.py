"""Speak each sentence as soon as it is ready, with a Twilio mark after it.

If synthesis fails or stalls (`SpeechSynthesizer.timeout_s`), the caller is never left in
silence: a fixed line (hand-over, callback...) is played from its start-up rendering, any
other sentence is replaced by the pre-rendered apology, once per reply (later failing
sentences of that reply are dropped). Each failure is a `tts_error` event; while synthesis
keeps failing the hand-over coordinator moves the call to a person (voice/escalation/handover.py).
"""

from __future__ import annotations

import asyncio
import time

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.dialogue.speech_text import for_speech
from voice.engines.tts import SpeechSynthesizer
from voice.pipeline.frames import AgentSentenceFrame, SpeechMarkFrame
from voice.session import CallSession


class SentenceSpeaker(FrameProcessor):
    def __init__(self, session: CallSession, tts: SpeechSynthesizer, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session, self._tts = session, tts
        self._speaking = False
        self._apologised: int | None = None  # the reply the apology was played in

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
            # A sentence said lately plays from memory (it proves nothing about the engine:
            # the count of failures in a row goes on).
            remembered = self._tts.remembered(for_speech(frame.text))
            text, pcm = frame.text, remembered or await self._synthesize(frame)
            if pcm is None:  # failed: the prepared line, else the apology (once per reply)
                text, pcm = self._fallback(frame)
            tts_ms = (time.perf_counter() - started) * 1000
            if pcm is not None:
                if not self._speaking:
                    self._speaking = True
                    await self.push_frame(TTSStartedFrame())
                duration = len(pcm) / 2 / self._tts.sample_rate
                sentence = playback.queued(
                    frame.reply_id, frame.index, text, duration, last=False, tts_ms=tts_ms
                )
                await self.push_frame(TTSAudioRawFrame(pcm, self._tts.sample_rate, 1))
                await self.push_frame(SpeechMarkFrame(sentence.mark))
        if frame.last:
            end = playback.queued(frame.reply_id, frame.index + 1, "", 0.0, last=True)
            await self.push_frame(SpeechMarkFrame(end.mark))
            if self._speaking:
                self._speaking = False
                await self.push_frame(TTSStoppedFrame())

    async def _synthesize(self, frame: AgentSentenceFrame) -> bytes | None:
        try:
            pcm = await asyncio.wait_for(
                self._tts.synthesize(for_speech(frame.text)), self._tts.timeout_s
            )
        except Exception as exc:  # the engine raised, or stalled past its timeout
            self._session.tts_failures_in_a_row += 1
            self._session.event(
                "tts_error",
                error=f"{type(exc).__name__}: {exc}",
                reply_id=frame.reply_id,
                sentence=frame.text,
                failures_in_a_row=self._session.tts_failures_in_a_row,
            )
            return None
        self._session.tts_failures_in_a_row = 0
        return pcm

    def _fallback(self, frame: AgentSentenceFrame) -> tuple[str, bytes | None]:
        if frame.text in self._tts.prepared:
            return frame.text, self._tts.prepared[frame.text]
        if self._apologised == frame.reply_id or not self._tts.apology:
            return "", None  # dropped: the caller already heard the apology
        self._apologised = frame.reply_id
        return self._tts.apology_text, self._tts.apology
