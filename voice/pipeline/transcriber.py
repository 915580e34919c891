"""Cut the caller's audio into utterances at turn boundaries and transcribe each one.

Transcription starts at the caller's first pause (`CallerPauseFrame`), while the turn-end
detector is still deciding whether the turn is over: when it is, the transcript is ready or
nearly so. If the caller speaks on, that early transcript is dropped; so is one whose pause
the caller broke too briefly for the VAD to call it speech (a word after it would be lost).

A turn is transcribed as it goes (`voice/pipeline/incremental_stt.py`): at a pause with
enough speech before it, or between two words of speech that runs on, the speech so far
becomes a piece of the turn and is transcribed while the caller speaks on. Pieces end in
quiet, so no word is cut or said twice, and the turn's end waits only for what was said after
its last piece, however long the turn.

When the call ends (the caller hangs up, or the agent does), what the caller said last is
still transcribed and stored, though nobody answers it any more: a turn being transcribed,
and one the caller was still speaking.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.engines.stt import SpeechToText, Transcript, joined
from voice.logs import get_logger
from voice.pipeline.frames import LikelyTranscriptFrame
from voice.pipeline.incremental_stt import PiecePolicy, needs_context, word_gap
from voice.pipeline.speech_energy import frame_levels, has_voice
from voice.pipeline.turn_frames import CallerPauseFrame, CallerResumedFrame, CallerTurnEndFrame
from voice.session import CallSession

log = get_logger("voice.transcriber")  # the name its logs have always carried

# VAD fires after speech began; keep the audio just before it. Silero now and then misses a
# short opening ("That's all, ..." heard from "thank you" on), so keep more than its
# `start_secs`: Whisper's input is trimmed to the voice anyway (`voice.engines.stt.frame_speech`),
# and the preroll restarts at each turn end, so it never repeats the previous turn.
PREROLL_S = 1.2
CUT_EVERY_S = 0.5  # speech that runs on past `PiecePolicy.max_s`: how often to look for a gap
FINISH_S = 10.0  # at the call's end, how long its last turns may take to be stored


@dataclass
class _Piece:
    """Speech of a turn, up to one of its pauses, being transcribed."""

    audio: np.ndarray  # float32
    task: asyncio.Future[Transcript]
    queued: Future | None = None  # the STT's job, while nobody waits for it (`hurry`)


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
        pieces: PiecePolicy | None = None,
        **kwargs,
    ) -> None:
        """`early`: start transcribing at the caller's first pause; `pieces`: when a turn's
        speech is transcribed while the caller speaks on (see the module doc)."""
        super().__init__(**kwargs)
        self._session, self._stt, self._early_enabled = session, stt, early
        self._policy = pieces or PiecePolicy()
        self._next_cut_len = 0  # `_speech_len` at which to look for a gap between words again
        self._lead = 0  # samples of audio before the VAD's start at the head of `_speech`
        self._start_secs, self._stop_secs = vad_start_secs, vad_stop_secs
        self._rate = sample_rate
        self._preroll: deque[np.ndarray] = deque()
        self._preroll_len = 0
        self._speech: list[np.ndarray] | None = None  # since the last piece of the turn
        self._speech_len = 0
        self._speech_start = 0.0
        self._pieces: list[_Piece] = []  # a long turn's speech before `_speech`
        self._loudest = 0.0  # the turn's loudest 20 ms frame (RMS) in its pieces
        self._early: asyncio.Task[Transcript] | None = None  # started at the caller's pause
        self._likely: asyncio.Task | None = None  # the turn's text so far, for the responder
        self._early_len = 0  # samples of `_speech` the early transcript covers
        self._order = asyncio.Lock()  # utterances reach the responder in the order spoken
        self._transcribing: set[asyncio.Task] = set()
        self._ending = False  # the call is over: turns are stored, not answered

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
                self._speech_len = self._lead = self._preroll_len
                self._speech_start = self._session.elapsed() - self._start_secs
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._speech is not None:
            stop_secs = frame.stop_secs if isinstance(frame, CallerTurnEndFrame) else None
            turn = {"turn_end": getattr(frame, "reason", "silence")}
            probability = getattr(frame, "complete_probability", None)
            if probability is not None:
                turn["smart_turn"] = round(probability, 3)
            self._end_utterance(self._stop_secs if stop_secs is None else stop_secs, turn)
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._finish()
        await self.push_frame(frame, direction)

    def _take_audio(self, samples: np.ndarray) -> None:
        if self._speech is not None:
            self._speech.append(samples)
            self._speech_len += len(samples)
            if self._early is None and self._speech_len >= self._next_cut_len:
                self._cut_unpaused()
        self._preroll.append(samples)
        self._preroll_len += len(samples)
        while self._preroll_len - len(self._preroll[0]) >= PREROLL_S * self._rate:
            self._preroll_len -= len(self._preroll.popleft())

    def _samples(self) -> np.ndarray:
        return np.concatenate(self._speech) if self._speech else np.zeros(0, np.int16)

    def _start_early(self) -> None:
        """The caller paused: the speech so far is the whole utterance if the turn is over
        (transcribed early), or, in a long turn, a piece of it (transcribed for good)."""
        if self._speech is None or self._early is not None:
            return
        if self._policy.piece_at_pause(self._waiting_s()):
            self._commit()
        elif self._early_enabled:
            self._early_len = self._speech_len
            self._early = self.create_task(
                self._stt.transcribe(_float(self._samples())), name="stt-early"
            )
        else:
            return
        parts = [piece.task for piece in self._pieces]
        if self._likely is not None:
            self._likely.cancel()
        self._likely = self.create_task(
            self._tell_likely([*parts, *([self._early] if self._early else [])]), name="likely"
        )

    async def _tell_likely(self, parts: list[asyncio.Future[Transcript]]) -> None:
        """Once the turn so far is transcribed, say what it reads (if the pause ends it)."""
        try:
            heard = [await asyncio.shield(part) for part in parts]
        except Exception:  # a failed part is transcribed again at the turn's end
            return
        whole = joined(heard)  # never empty: a piece was just cut, or the early STT started
        if whole.is_speech and whole.text.strip():
            await self.push_frame(LikelyTranscriptFrame(text=whole.text))

    def _cut_unpaused(self) -> None:
        """Speech has run on without a pause: cut it between two words, if it has a gap."""
        self._next_cut_len = self._speech_len + int(CUT_EVERY_S * self._rate)
        if not self._policy.cut_unpaused(self._waiting_s()):
            return
        samples = self._samples()
        cut = word_gap(samples, self._loudest, self._policy.min_s, self._rate)
        if cut is not None:
            self._commit(cut)

    def _waiting_s(self) -> float:
        """Seconds of the caller's speech not yet in a piece (the audio kept from before the
        VAD heard the voice start does not count: a short turn stays whole)."""
        return (self._speech_len - self._lead) / self._rate

    def _commit(self, upto: int | None = None) -> None:
        """What was said so far (up to sample `upto`) is a piece of the turn, transcribed now."""
        samples = self._samples()
        rest = samples[len(samples) if upto is None else upto :]
        samples = samples[: len(samples) - len(rest)]
        levels = frame_levels(samples)
        self._loudest = max(self._loudest, float(levels.max()) if levels.size else 0.0)
        audio = _float(samples)
        self._pieces.append(self._transcribe_piece(audio))
        self._speech, self._speech_len = ([rest] if len(rest) else []), len(rest)
        self._next_cut_len, self._lead = len(rest), 0

    def _transcribe_piece(self, audio: np.ndarray) -> _Piece:
        """Queued behind every call's turn end, when the STT can (the process's Whisper)."""
        submit = getattr(self._stt, "submit_piece", None)
        if submit is None:
            return _Piece(audio, self.create_task(self._stt.transcribe(audio)))
        queued = submit(audio)
        return _Piece(audio, asyncio.wrap_future(queued), queued)

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early.cancel()  # the caller spoke on: that transcript is missing words
            self._early = None
        if self._likely is not None:
            self._likely.cancel()
            self._likely = None

    def _end_utterance(self, stop_secs: float, turn: dict) -> None:
        samples, early, pieces = self._samples(), self._early, self._pieces
        for piece in pieces:
            if piece.queued is not None:
                self._stt.hurry(piece.queued)  # the caller waits for the answer now
        if early is not None and self._spoke_after(samples, self._early_len):
            early.cancel()  # the voice came back too briefly for the VAD: it missed words
            early = None
        tail = _float(samples) if not pieces or self._spoke_after(samples, 0) else None
        self._speech, self._speech_len, self._early, self._pieces = None, 0, None, []
        self._likely = None  # left to finish: the reply reads what it prepares
        self._next_cut_len = self._lead = 0
        self._loudest = 0.0
        self._preroll.clear()
        self._preroll_len = 0
        detected_s = self._session.elapsed()
        task = self.create_task(
            self._transcribe(
                pieces, tail, early, self._speech_start, detected_s - stop_secs, detected_s, turn
            )
        )
        self._transcribing.add(task)
        task.add_done_callback(self._transcribing.discard)

    async def _finish(self) -> None:
        """The call is ending: store the caller's last words before the call is closed."""
        if self._ending:
            return
        self._ending = True
        if self._speech is not None:  # hung up mid-sentence: the turn ends here
            self._end_utterance(0.0, {"turn_end": "call_ended"})
        pending = [task for task in self._transcribing if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=FINISH_S)
            if late:
                log.warning("the call ended before its last turn was transcribed", turns=len(late))

    def _spoke_after(self, samples: np.ndarray, since: int) -> bool:
        """Whether there is voice in `samples[since:]` (the pause that ended the turn)."""
        loudest = frame_levels(samples[:since])
        reference = max(self._loudest, float(loudest.max()) if loudest.size else 0.0)
        return has_voice(samples[since:], reference or float(frame_levels(samples).max(initial=0)))

    async def _transcribe(
        self,
        pieces: list[_Piece],
        tail: np.ndarray | None,
        early: asyncio.Task[Transcript] | None,
        start_s: float,
        end_s: float,
        detected_s: float,
        turn: dict,
    ) -> None:
        detected = time.perf_counter()
        async with self._order:
            transcript = await self._whole(pieces, tail, early)
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
                **({"doubtful": True} if transcript.doubtful else {}),
                **({"pieces": len(pieces) + (tail is not None)} if pieces else {}),
                **({"call_ended": True} if self._ending else {}),
                **turn,
            )
            if self._ending:
                return  # nobody to answer
            await self.push_frame(
                TranscriptionFrame(
                    text=transcript.text,
                    user_id=self._session.caller,
                    timestamp=f"{end_s:.3f}",
                    result=utterance,
                )
            )

    async def _whole(
        self,
        pieces: list[_Piece],
        tail: np.ndarray | None,
        early: asyncio.Task[Transcript] | None,
    ) -> Transcript | None:
        """The turn's transcript: its pieces, then what was said after the last one.

        Its time is that of the last part, the one the turn's end waited for: the pieces
        were transcribed while the caller spoke on.
        """
        parts, audios = [], [piece.audio for piece in pieces]
        for piece in pieces:
            parts.append(await self._result(piece.audio, piece.task))
        if tail is not None:
            parts.append(await self._result(tail, early))
            audios.append(tail)
        heard = [part for part in parts if part is not None]
        if len(heard) < len(parts):
            return None
        whole = await self._numbers_rejoined(heard, audios)
        if whole is None:
            return None
        if len(whole) == 1:
            return whole[0]
        return joined(whole, whole[-1].elapsed_seconds)

    async def _numbers_rejoined(
        self, parts: list[Transcript], audios: list[np.ndarray]
    ) -> list[Transcript] | None:
        """A part that says a number is transcribed again with the part before it: Whisper
        reads a digit string better with what led to it ("the number is four five two one"
        came out "four times two one" alone), and a number may run across the cut."""
        i = 0
        while i < len(parts) - 1:
            if not needs_context(parts[i].text, parts[i + 1].text):
                i += 1
                continue
            audio = np.concatenate([audios[i], audios[i + 1]])
            again = await self._result(audio, None)
            if again is None:
                return None
            parts[i : i + 2], audios[i : i + 2] = [again], [audio]
            i += 1  # once: the merged part is not merged again with what follows
        return parts

    async def _result(
        self, audio: np.ndarray, early: asyncio.Future[Transcript] | None
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


def _float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0
