"""Cut the caller's audio into utterances at turn boundaries and transcribe each one.

Transcription starts at the caller's first pause (`CallerPauseFrame`), while the turn-end
detector is still deciding whether the turn is over: when it is, the transcript is ready or
nearly so. If the caller speaks on, that early transcript is dropped.
"""

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

from voice.engines.stt import SpeechToText, Transcript
from voice.logs import get_logger
from voice.pipeline.turn_frames import CallerPauseFrame, CallerResumedFrame, CallerTurnEndFrame
from voice.session import CallSession

log = get_logger("voice.transcriber")  # the name its logs have always carried

# VAD fires after speech began; keep the audio just before it. Silero now and then misses a
# short opening ("That's all, ..." heard from "thank you" on), so keep more than its
# `start_secs`: Whisper's input is trimmed to the voice anyway (`voice.engines.stt.frame_speech`),
# and the preroll restarts at each turn end, so it never repeats the previous turn.
PREROLL_S = 1.2


@dataclass
class CallerUtterance:
    transcript: Transcript
    start_s: float
    end_s: float  # end of speech on the call timeline
    detected_at: float  # when the turn end was detected (perf_counter)
    transcribed_at: float


class TurnTranscriber(FrameProcessor):
    def __init__(
        self,
        session: CallSession,
        stt: SpeechToText,
        vad_start_secs: float,
        vad_stop_secs: float,
        sample_rate: int = 16000,
        early: bool = True,
        **kwargs,
    ) -> None:
        """`early`: start transcribing at the caller's first pause (see the module doc)."""
        super().__init__(**kwargs)
        self._session, self._stt, self._early_enabled = session, stt, early
        self._start_secs, self._stop_secs = vad_start_secs, vad_stop_secs
        self._rate = sample_rate
        self._preroll: deque[np.ndarray] = deque()
        self._preroll_len = 0
        self._speech: list[np.ndarray] | None = None
        self._speech_start = 0.0
        self._early: asyncio.Task[Transcript] | None = None  # started at the caller's pause
        self._order = asyncio.Lock()  # utterances reach the responder in the order spoken

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._take_audio(np.frombuffer(frame.audio, dtype=np.int16))
            return  # nothing downstream needs raw caller audio
        if isinstance(frame, CallerPauseFrame):
            self._start_early()
            return
        if isinstance(frame, CallerResumedFrame):
            self._drop_early()
            return
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._drop_early()
            if self._speech is None:  # a second start inside one utterance keeps what it has
                self._speech = list(self._preroll)
                self._speech_start = self._session.elapsed() - self._start_secs
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._speech is not None:
            self._end_utterance(frame)
        await self.push_frame(frame, direction)

    def _take_audio(self, samples: np.ndarray) -> None:
        if self._speech is not None:
            self._speech.append(samples)
        self._preroll.append(samples)
        self._preroll_len += len(samples)
        while self._preroll_len - len(self._preroll[0]) >= PREROLL_S * self._rate:
            self._preroll_len -= len(self._preroll.popleft())

    def _audio(self) -> np.ndarray:
        return np.concatenate(self._speech).astype(np.float32) / 32768.0

    def _start_early(self) -> None:
        """The caller paused: the speech so far is the whole utterance if the turn is over."""
        if self._early_enabled and self._speech is not None and self._early is None:
            self._early = self.create_task(self._stt.transcribe(self._audio()), name="stt-early")

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early.cancel()  # the caller spoke on: that transcript is missing words
            self._early = None

    def _end_utterance(self, frame: VADUserStoppedSpeakingFrame) -> None:
        audio, early = self._audio(), self._early
        self._speech, self._early = None, None
        self._preroll.clear()
        self._preroll_len = 0
        detected_s = self._session.elapsed()
        stop_secs = frame.stop_secs if isinstance(frame, CallerTurnEndFrame) else self._stop_secs
        turn = {"turn_end": getattr(frame, "reason", "silence")}
        if getattr(frame, "complete_probability", None) is not None:
            turn["smart_turn"] = round(frame.complete_probability, 3)
        self.create_task(
            self._transcribe(
                audio, early, self._speech_start, detected_s - stop_secs, detected_s, turn
            )
        )

    async def _transcribe(
        self,
        audio: np.ndarray,
        early: asyncio.Task[Transcript] | None,
        start_s: float,
        end_s: float,
        detected_s: float,
        turn: dict,
    ) -> None:
        detected = time.perf_counter()
        async with self._order:
            transcript = await self._result(audio, early)
            if transcript is None:
                self._session.event("stt_error", start=round(start_s, 3))
                return
            if not transcript.is_speech:
                self._session.event(
                    "noise", start=round(start_s, 3), end=round(end_s, 3), text=transcript.text
                )
                return
            utterance = CallerUtterance(transcript, start_s, end_s, detected, time.perf_counter())
            self._session.caller_turn(
                transcript.text,
                start_s,
                end_s,
                transcript.language,
                detected=round(detected_s, 3),
                transcribed=round(self._session.elapsed(), 3),
                stt_ms=round(transcript.elapsed_seconds * 1000, 1),
                early_stt=early is not None,
                **turn,
            )
            await self.push_frame(
                TranscriptionFrame(
                    text=transcript.text,
                    user_id=self._session.caller,
                    timestamp=f"{end_s:.3f}",
                    result=utterance,
                )
            )

    async def _result(
        self, audio: np.ndarray, early: asyncio.Task[Transcript] | None
    ) -> Transcript | None:
        """The early transcript when there is one (only silence came after it), else a new one."""
        if early is not None and not early.cancelled():
            try:
                return await asyncio.shield(early)  # a barge-in must not cancel it from here
            except asyncio.CancelledError:
                if not early.cancelled():
                    raise  # this task itself is being cancelled (the call is ending)
            except Exception:
                log.exception("early transcription failed; transcribing again")
        try:
            return await self._stt.transcribe(audio)
        except Exception:
            log.exception("transcription failed")
            return None
