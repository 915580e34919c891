"""Cut the caller's audio into utterances at VAD boundaries and transcribe each one."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.logs import get_logger
from voice.session import CallSession
from voice.stt import SpeechToText, Transcript

log = get_logger(__name__)

PREROLL_S = 0.5  # VAD fires after speech began; keep the audio just before it


@dataclass
class CallerUtterance:
    transcript: Transcript
    start_s: float
    end_s: float  # end of speech on the call timeline
    detected_at: float  # when the turn end was detected (perf_counter)
    transcribed_at: float


class TurnTranscriber(FrameProcessor):
    def __init__(self, session: CallSession, stt: SpeechToText, vad_start_secs: float,
                 vad_stop_secs: float, sample_rate: int = 16000, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session, self._stt = session, stt
        self._start_secs, self._stop_secs = vad_start_secs, vad_stop_secs
        self._rate = sample_rate
        self._preroll: deque[np.ndarray] = deque()
        self._preroll_len = 0
        self._speech: list[np.ndarray] | None = None
        self._speech_start = 0.0
        self._order = asyncio.Lock()  # utterances reach the responder in the order spoken

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._take_audio(np.frombuffer(frame.audio, dtype=np.int16))
            return  # nothing downstream needs raw caller audio
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._speech = list(self._preroll)
            self._speech_start = self._session.elapsed() - self._start_secs
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._speech is not None:
            audio, self._speech = np.concatenate(self._speech), None
            detected_s = self._session.elapsed()
            self.create_task(self._transcribe(audio, self._speech_start,
                                              detected_s - self._stop_secs, detected_s))
        await self.push_frame(frame, direction)

    def _take_audio(self, samples: np.ndarray) -> None:
        if self._speech is not None:
            self._speech.append(samples)
        self._preroll.append(samples)
        self._preroll_len += len(samples)
        while self._preroll_len - len(self._preroll[0]) >= PREROLL_S * self._rate:
            self._preroll_len -= len(self._preroll.popleft())

    async def _transcribe(self, audio: np.ndarray, start_s: float, end_s: float,
                          detected_s: float) -> None:
        detected = time.perf_counter()
        async with self._order:
            try:
                transcript = await self._stt.transcribe(audio.astype(np.float32) / 32768.0)
            except Exception:
                log.exception("transcription failed")
                self._session.event("stt_error", start=round(start_s, 3))
                return
            if not transcript.is_speech:
                self._session.event("noise", start=round(start_s, 3), end=round(end_s, 3),
                                    text=transcript.text)
                return
            utterance = CallerUtterance(transcript, start_s, end_s, detected,
                                        time.perf_counter())
            self._session.caller_turn(transcript.text, start_s, end_s, transcript.language,
                                      detected=round(detected_s, 3),
                                      stt_ms=round(transcript.elapsed_seconds * 1000, 1))
            await self.push_frame(TranscriptionFrame(
                text=transcript.text, user_id=self._session.caller,
                timestamp=f"{end_s:.3f}", result=utterance))
