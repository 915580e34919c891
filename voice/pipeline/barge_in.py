"""Barge-in: the caller talks over the agent, so the agent stops and Twilio drops its audio.

Energy and the VAD alone cannot tell a caller taking the turn from a noisy room, the agent's
own voice coming back, or a caller's "mm-hm". With `words` (BARGE_IN_WORDS) set, speech over
the agent is first transcribed (the first `min_secs` of it, then again every `RECHECK_S`
while it goes on) and the agent stops only once the caller has said that many words that
are not backchannels (voice/pipeline/backchannel.py): a "yes" stops a question, not a
statement.
"""

from __future__ import annotations

import asyncio
from collections import deque

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.engines.stt import SpeechToText, Transcript
from voice.engines.whisper_window import LOG_PROB_THRESHOLD
from voice.logs import get_logger
from voice.pipeline.backchannel import real_words, words_of
from voice.session import CallSession

log = get_logger("voice.barge_in")

PREROLL_S = 0.4  # audio before the VAD noticed speech: a word's start
RECHECK_S = 0.2  # speech going on after a check without words: look again this much later
# A check that had real words in it (one too few, or words Whisper was unsure of: "I order"
# through cafe babble at -1.1) is nearly decided, so the next one looks sooner. Checks with
# none keep RECHECK_S: each extra check of a backchannel is one more chance to mishear it as
# a word (0.1 s after every check: 4 of 20 backchannels stopped the agent, against 2 of 30 at
# 0.2 s; docs/benchmarks.md).
RECHECK_ONE_SHORT_S = 0.1
MAX_CHECK_S = 4.0  # the most speech one check transcribes (its latest seconds)
# Early in a stretch of speech Whisper hears the start of a word and guesses one: "yeah" came
# out "yes", "right" "rise". One word heard before EARLY_S of speech is not enough; two
# different words are (a sentence has begun). A backchannel seldom has two.
EARLY_S = 0.4
# Nobody says more words a second than this: a check that heard more made them up, from
# cafe babble ("I got to get out of here." in 0.6 s of audio) or a decoding loop.
MAX_WORDS_PER_S = 6.0
# Below faster-whisper's own log-probability threshold Whisper was guessing: babble came out
# "I'm sorry." at -1.5, real words at -0.4 to -0.9. An unsure check stops nothing; the next
# one, RECHECK_S later, hears more.
MIN_LOGPROB = LOG_PROB_THRESHOLD


def words_said(transcript: Transcript, question: bool = False) -> int:
    """The different real words in a barge-in check, sure or not (`real_words`: over a
    question agreement counts, it answers it), "rise... rise..." being one; none at all from
    a transcript said faster than anyone speaks."""
    if not transcript.is_speech:
        return 0
    if len(words_of(transcript.text)) > MAX_WORDS_PER_S * transcript.audio_seconds + 1:
        return 0
    return len(real_words(transcript.text, question))


def words_heard(transcript: Transcript, question: bool = False) -> int:
    """The words of a check that count towards stopping the agent: none from a check
    Whisper was unsure of."""
    return 0 if transcript.avg_logprob < MIN_LOGPROB else words_said(transcript, question)


def words_needed(words: int, spoken_s: float) -> int:
    """Words a check on `spoken_s` of speech must hear to stop the agent (`words` set)."""
    return words + 1 if spoken_s < EARLY_S else words


def recheck_after(said: int) -> float:
    """Speech to wait for before the next check, after one that did not stop the agent and
    had `said` real words in it (`words_said`)."""
    return RECHECK_ONE_SHORT_S if said > 0 else RECHECK_S


class BargeInDetector(FrameProcessor):
    """Interrupts when the caller has spoken for `min_secs` while the agent is audible (and,
    with `words`, said that many real words).

    The minimum length keeps a cough or a short "mm-hm" from cutting the agent off.
    """

    def __init__(
        self,
        session: CallSession,
        min_secs: float,
        stt: SpeechToText | None = None,
        words: int = 0,
        sample_rate: int = 16000,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._min_secs = min_secs
        self._stt, self._words = stt, words if stt is not None else 0
        self._rate = sample_rate
        self._speech_start: float | None = None
        self._detected_at = 0.0  # when the VAD said the caller started (its start_secs later)
        self._audio: deque[np.ndarray] = deque()  # the caller's last MAX_CHECK_S
        self._held = 0
        self._check: asyncio.Task | None = None
        self._next_check_s = 0.0  # speech length at which to look again
        self._question = False  # the caller was hearing a question when this speech began

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._words:
                self._keep(np.frombuffer(frame.audio, dtype=np.int16))
            # On every 20 ms frame, not on pipecat's UserSpeakingFrame (at most one per 0.2 s):
            # the interruption comes as soon as the speech is long enough.
            await self._maybe_interrupt()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._detected_at = self._session.elapsed()
            self._speech_start = self._detected_at - frame.start_secs
            self._next_check_s = self._min_secs
            self._question = self._session.playback.asking
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speech_start = None
        await self.push_frame(frame, direction)

    def _keep(self, samples: np.ndarray) -> None:
        self._audio.append(samples)
        self._held += len(samples)
        while self._held - len(self._audio[0]) >= MAX_CHECK_S * self._rate:
            self._held -= len(self._audio.popleft())

    async def _maybe_interrupt(self) -> None:
        if self._speech_start is None or not self._session.playback.agent_speaking:
            return
        spoken = self._session.elapsed() - self._speech_start
        if spoken < self._min_secs:
            return
        if not self._words:
            await self._interrupt(self._speech_start)
        elif spoken >= self._next_check_s and (self._check is None or self._check.done()):
            self._next_check_s = spoken + RECHECK_S
            self._check = self.create_task(self._words_check(self._speech_start, spoken))

    async def _words_check(self, speech_start: float, spoken: float) -> None:
        """Transcribe the speech so far; interrupt if it holds real words."""
        keep = int(min(spoken + PREROLL_S, MAX_CHECK_S) * self._rate)
        audio = np.concatenate(self._audio)[-keep:].astype(np.float32) / 32768.0
        if self._stt is None:
            return
        asked = self._session.elapsed()
        try:
            transcript = await self._stt.transcribe_check(audio)
        except Exception:
            log.exception("barge-in check failed")
            return
        # When the check was asked for and how long it took: where a barge-in's time goes.
        timing = {
            "speech_s": round(spoken, 2),
            "check_asked": round(asked, 3),
            "check_ms": round((self._session.elapsed() - asked) * 1000),
            "logprob": round(transcript.avg_logprob, 2),
            "no_speech": round(transcript.no_speech_probability, 2),
        }
        question = self._question
        heard, needed = words_heard(transcript, question), words_needed(self._words, spoken)
        if heard < needed:
            recheck = recheck_after(words_said(transcript, question))
            self._next_check_s = min(self._next_check_s, spoken + recheck)
            self._session.event("barge_in_ignored", text=transcript.text, **timing)
            return
        if self._speech_start == speech_start and self._session.playback.agent_speaking:
            await self._interrupt(speech_start, text=transcript.text, **timing)

    async def _interrupt(self, speech_start: float, **extra: object) -> None:
        dropped = self._session.playback.cleared()
        self._session.event(
            "barge_in",
            caller_speech_start=round(speech_start, 3),
            vad_detected=round(self._detected_at, 3),
            dropped_sentences=[s.mark for s in dropped],
            **extra,
        )
        self._speech_start = None  # one interruption per stretch of speech
        await self.broadcast_interruption()
