"""Decide when the caller's turn is over from the pause and how the turn sounds, together.

The VAD in front reports a short pause (`TurnTiming.pause_s`). At that pause this processor
tells the transcriber to start on the utterance (`CallerPauseFrame`) and asks Smart-Turn
whether the turn sounds finished. A finished-sounding turn ends after `complete_s` of
silence; any other turn after `stop_s` (the configured VAD stop). When the caller speaks
again first, the pause was only a pause (`CallerResumedFrame`) and the turn goes on.

Silences are counted on the audio's own clock (samples received), not the wall clock: on a
busy CPU frames arrive late and in bursts, and a wall-clock timer would end a turn before the
frames in which the caller speaks again were even looked at. They run from where the voice
really stopped (`voice/pipeline/speech_energy.py`), and a voice that comes back before the VAD
confirms it as speech holds the turn open.

Downstream processors see one VAD start and one VAD stop per turn, as before; the stop is a
`CallerTurnEndFrame` that carries the silence actually waited and Smart-Turn's verdict.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.logs import get_logger
from voice.pipeline.smart_turn import SmartTurn
from voice.pipeline.speech_energy import SpeechEnergy
from voice.pipeline.turn_frames import CallerPauseFrame, CallerResumedFrame, CallerTurnEndFrame
from voice.session import CallSession

log = get_logger("voice.turn_end")  # the name its logs have always carried

SMART_TURN_WINDOW_S = 8.0  # what the model reads
PRE_SPEECH_S = 0.5  # audio before the VAD noticed speech, as pipecat gives the model
STALLED_AUDIO_S = 1.0  # past the long silence with no audio arriving: end on the wall clock
BACKLOG_GRACE_S = 0.2  # frames already queued behind a stalled event loop get this to arrive


@dataclass(frozen=True)
class TurnTiming:
    """Silences (seconds) that matter to the end of a turn.

    `complete_s` is longer than the pauses callers leave between two sentences of one turn
    (~0.35 s in the sample calls): Smart-Turn hears a finished sentence there too.
    """

    pause_s: float = 0.2  # the VAD's stop: the turn may be over
    complete_s: float = 0.45  # ends a turn Smart-Turn judges complete
    stop_s: float = 0.6  # ends any turn
    complete_probability: float = 0.5


class CallerAudio:
    """The last seconds of the caller's audio, and where the current utterance began."""

    def __init__(self, sample_rate: int, keep_s: float) -> None:
        self._rate, self._keep = sample_rate, int(keep_s * sample_rate)
        self._chunks: deque[np.ndarray] = deque()
        self._held = 0
        self._total = 0  # samples ever received
        self._utterance_start = 0

    def add(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self._held += len(samples)
        self._total += len(samples)
        while self._held - len(self._chunks[0]) >= self._keep:
            self._held -= len(self._chunks.popleft())

    def mark_utterance(self, started_s_ago: float) -> None:
        self._utterance_start = self._total - int(started_s_ago * self._rate)

    def utterance(self, max_s: float) -> np.ndarray:
        """The current utterance (float32), at most its last `max_s` seconds."""
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        wanted = min(self._total - self._utterance_start, int(max_s * self._rate), len(audio))
        return audio[len(audio) - wanted :].astype(np.float32) / 32768.0


@dataclass
class PendingEnd:
    """A pause that may end the turn, on the audio clock."""

    speech_end_s: float
    voice_level: float
    probability: float | None = None  # Smart-Turn's verdict, once it has one
    judged: bool = False  # Smart-Turn answered (or there is none)
    resumed: bool = False  # the voice came back without the VAD calling it speech


class TurnEndDetector(FrameProcessor):
    def __init__(
        self,
        session: CallSession,
        timing: TurnTiming,
        smart_turn: Callable[[], SmartTurn] | None,
        sample_rate: int = 16000,
        **kwargs,
    ) -> None:
        """`smart_turn` gives the shared model (it may block loading it the first time);
        None ends every turn on the long silence."""
        super().__init__(**kwargs)
        self._session, self._timing, self._rate = session, timing, sample_rate
        self._load_smart_turn = smart_turn
        self._smart_turn: SmartTurn | None = None
        self._audio = CallerAudio(sample_rate, SMART_TURN_WINDOW_S + PRE_SPEECH_S + 1.0)
        self._energy = SpeechEnergy()
        self._heard_s = 0.0  # the audio clock: seconds of caller audio received
        self._last_audio_at = time.monotonic()  # wall clock: when audio last arrived
        self._in_turn = False
        self._pending: PendingEnd | None = None
        self._tasks: list[asyncio.Task] = []  # Smart-Turn and the stalled-audio guard

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self._hear(np.frombuffer(frame.audio, dtype=np.int16))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if await self._resume() or self._in_turn:
                return  # one turn, one start
            self._in_turn = True
            self._audio.mark_utterance(frame.start_secs + PRE_SPEECH_S)
            self._energy.start_utterance(self._heard_s - frame.start_secs - PRE_SPEECH_S)
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and not isinstance(
            frame, CallerTurnEndFrame
        ):
            if self._in_turn and self._pending is None:
                await self._pause(self._heard_s - frame.stop_secs)
            return  # the turn's own stop comes when it is decided
        await self.push_frame(frame, direction)

    async def _hear(self, samples: np.ndarray) -> None:
        self._heard_s += len(samples) / self._rate
        self._last_audio_at = time.monotonic()
        self._audio.add(samples)
        level = self._energy.add(samples, self._heard_s)
        pending = self._pending
        if pending is None:
            return
        if level > pending.voice_level:  # the VAD calls it speech after `start_secs`, or not
            pending.speech_end_s, pending.resumed = self._heard_s, True
        if self._heard_s >= pending.speech_end_s + self._wait_s(pending):
            await self._end_turn(pending)

    def _wait_s(self, pending: PendingEnd) -> float:
        complete = (
            pending.judged
            and not pending.resumed
            and pending.probability is not None
            and pending.probability >= self._timing.complete_probability
        )
        return self._timing.complete_s if complete else self._timing.stop_s

    async def _pause(self, vad_end_s: float) -> None:
        speech_end_s, _ = self._energy.speech_end(vad_end_s)
        pending = PendingEnd(speech_end_s, self._energy.voice_level(speech_end_s))
        self._pending = pending
        await self.push_frame(
            CallerPauseFrame(speech_end_s=self._session.elapsed() - (self._heard_s - speech_end_s))
        )
        self._tasks = [
            self.create_task(self._judge(pending), name="smart-turn"),
            self.create_task(self._guard(pending), name="turn-end-guard"),
        ]

    async def _resume(self) -> bool:
        """The caller spoke again: a pending end means the turn was not over."""
        if self._pending is None:
            return False
        self._pending = None
        await self._stop_tasks()
        await self.push_frame(CallerResumedFrame())
        return True

    async def _end_turn(self, pending: PendingEnd, reason: str | None = None) -> None:
        self._pending, self._in_turn = None, False
        await self._stop_tasks()
        complete = self._wait_s(pending) == self._timing.complete_s
        await self.push_frame(
            CallerTurnEndFrame(
                stop_secs=self._heard_s - pending.speech_end_s,
                complete_probability=pending.probability,
                reason=reason or ("complete" if complete else "silence"),
            )
        )

    async def _stop_tasks(self) -> None:
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                await self.cancel_task(task)
        self._tasks = []

    async def _judge(self, pending: PendingEnd) -> None:
        pending.probability = await self._completeness()
        pending.judged = True

    async def _guard(self, pending: PendingEnd) -> None:
        """Audio stopped arriving (a stalled stream): end the turn on the wall clock, but
        only once no frame has come for `STALLED_AUDIO_S`; late bursts are not a stall."""
        await asyncio.sleep(self._timing.stop_s)
        while self._pending is pending:
            quiet_s = time.monotonic() - self._last_audio_at
            if quiet_s >= STALLED_AUDIO_S:
                # A loop that was itself stalled wakes this timer before the frames waiting
                # in the transport reach us: give them a moment before calling it a stall.
                last_audio_at = self._last_audio_at
                await asyncio.sleep(BACKLOG_GRACE_S)
                if self._pending is not pending or self._last_audio_at != last_audio_at:
                    continue
                log.warning(
                    "caller audio stalled: turn ended on the wall clock", quiet_s=round(quiet_s, 2)
                )
                await self._end_turn(pending, reason="stalled")
                return
            await asyncio.sleep(STALLED_AUDIO_S - quiet_s)

    async def _completeness(self) -> float | None:
        if self._load_smart_turn is None:
            return None
        try:
            if self._smart_turn is None:
                self._smart_turn = await asyncio.to_thread(self._load_smart_turn)
            return await self._smart_turn.probability(self._audio.utterance(SMART_TURN_WINDOW_S))
        except Exception:  # a turn still ends on silence without the model
            log.exception("smart-turn failed")
            return None
