"""Speech to text with faster-whisper: one model per process, inference off the event loop."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from voice.engines.digit_strings import reads_digits
from voice.engines.encoder_batch import EncoderBatcher
from voice.engines.models import whisper_base_dir, whisper_device
from voice.engines.priority_pool import BACKGROUND, PriorityPool
from voice.engines.thread_names import os_thread_named, set_os_thread_name
from voice.engines.whisper_window import PAD_S, Decoded, WindowedWhisper

# Whisper invents these on silence or noise; a turn that is only this is not a turn.
LANGUAGE_CONFIDENCE = 0.8
BATCH_THREADS = 4  # transcriptions in flight when encodes are batched
# Whisper's words (digits most of all: "4521", "four five two one", "4 times 2 1") shift with
# how much silence surrounds the speech, which depends on when the VAD fired and when
# transcription started. Every utterance is framed the same: this much before the voice,
# this much (digital) silence after it.
LEAD_S = 0.2
TAIL_S = 0.6
FRAME = 320  # 20 ms at 16 kHz
VOICE_FLOOR = 100 / 32768  # about -50 dBFS
VOICE_RELATIVE = 0.05  # of the loudest frame
# A turn longer than one Whisper window is cut into pieces in its pauses, never inside a word;
# the window is always encoded whole (30 s), so pieces are made as long as fits.
MIN_PIECE_S = 8.0  # a piece is at least this long unless it is the last one
SENTENCE_GAP_S = 0.3  # a pause this long is between sentences (or clauses): the best cut
WORD_GAP_S = 0.1  # ... this long, between words
FULL_WINDOW_S = 30.0  # Whisper's own window
# A barge-in check (a few seconds said over the agent, voice/pipeline/barge_in.py) is encoded
# in the speech and 1 s of padding, at least 2 s: the first checks (0.6-0.8 s of audio) take
# 83 ms against 102 in a 5 s window, and stopped real barge-ins 13-38 ms sooner
# (docs/benchmarks.md). A short window repeats a word now and then ("Okay Okay"): the check
# counts different words, and a loop faster than anyone speaks counts as none.
CHECK_WINDOW_S, CHECK_PAD_S = 2.0, 1.0
_HALLUCINATIONS = {"", "you", "thank you.", "thanks for watching!", "bye.", "."}
# Whisper doubts both that there was speech and what the words were: cafe babble alone read
# as "I'll see you in the next one." or "I got to get out of here." (no-speech 0.45-0.65,
# log-probability -0.8 to -2.3), while callers' turns, short answers included, stay under
# 0.45 or above -0.8 on every line but the noisiest (docs/benchmarks.md). Nothing acts on
# such words: the agent asks the caller to say it again.
DOUBT_NO_SPEECH = 0.45
DOUBT_LOGPROB = -0.8


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    no_speech_probability: float
    audio_seconds: float
    elapsed_seconds: float
    avg_logprob: float = 0.0  # Whisper's mean log-probability per token (0 is certain)

    @property
    def is_speech(self) -> bool:
        return self.text.strip().lower() not in _HALLUCINATIONS and self.no_speech_probability < 0.8

    @property
    def doubtful(self) -> bool:
        """Words Whisper may have made up from noise (`DOUBT_NO_SPEECH`, `DOUBT_LOGPROB`)."""
        return self.no_speech_probability > DOUBT_NO_SPEECH and self.avg_logprob < DOUBT_LOGPROB


def joined(pieces: list[Transcript], elapsed_seconds: float | None = None) -> Transcript:
    """One transcript of consecutive pieces of one turn (pieces that are not speech left out)."""
    spoken = [p for p in pieces if p.is_speech] or pieces[:1]
    head = spoken[0]
    return Transcript(
        text=" ".join(p.text.strip() for p in spoken if p.text.strip()),
        language=head.language,
        language_probability=head.language_probability,
        no_speech_probability=min(p.no_speech_probability for p in spoken),
        audio_seconds=sum(p.audio_seconds for p in pieces),
        elapsed_seconds=(
            sum(p.elapsed_seconds for p in pieces) if elapsed_seconds is None else elapsed_seconds
        ),
        avg_logprob=min(p.avg_logprob for p in spoken),
    )


def _transcript(decoded: Decoded, audio: np.ndarray, started: float) -> Transcript:
    return Transcript(
        text=decoded.text,
        language=decoded.language,
        language_probability=decoded.language_probability,
        no_speech_probability=decoded.no_speech_probability,
        audio_seconds=len(audio) / 16000,
        elapsed_seconds=time.perf_counter() - started,
        avg_logprob=decoded.avg_logprob,
    )


def frame_speech(audio: np.ndarray) -> np.ndarray:
    """The voiced part of `audio` with `LEAD_S` before it and `TAIL_S` of silence after."""
    count = len(audio) // FRAME
    if count == 0:
        return audio
    rms = np.sqrt(
        (audio[: count * FRAME].reshape(count, FRAME).astype(np.float64) ** 2).mean(axis=1)
    )
    level = max(VOICE_FLOOR, VOICE_RELATIVE * rms.max())
    voiced = np.flatnonzero(rms > level)
    if voiced.size == 0:
        return audio  # no voice to frame: Whisper's no-speech check decides
    # To the sample, so that the same speech is framed the same whatever the 20 ms grid.
    first = _first_above(audio, max(0, int(voiced[0]) - 1) * FRAME, level)
    last = _last_above(audio, (int(voiced[-1]) + 2) * FRAME, level)
    start = max(0, first - int(LEAD_S * 16000))
    return np.concatenate([audio[start : last + 1], np.zeros(int(TAIL_S * 16000), audio.dtype)])


def voice_frames(audio: np.ndarray) -> np.ndarray:
    """Which 20 ms frames of `audio` carry voice (the level `frame_speech` trims to)."""
    count = len(audio) // FRAME
    if count == 0:
        return np.zeros(0, bool)
    rms = np.sqrt((audio[: count * FRAME].reshape(count, FRAME).astype(np.float64) ** 2).mean(1))
    return rms > max(VOICE_FLOOR, VOICE_RELATIVE * rms.max())


def pause_cuts(audio: np.ndarray, max_s: float) -> list[int]:
    """Sample offsets that cut `audio` into pieces of at most `max_s`, each in a pause.

    Each cut is in the middle of the latest pause between sentences that leaves a piece of
    at least `MIN_PIECE_S`, else the latest pause between words, else the longest quiet
    stretch there is (a caller who never paused for 25 s: a word may be split there).
    """
    voiced = voice_frames(audio)
    quiet_runs = _runs(~voiced)  # (first frame, frames)
    cuts, start, max_frames = [], 0, int(max_s * 16000) // FRAME
    min_frames = int(MIN_PIECE_S * 16000) // FRAME
    while len(audio) - start * FRAME > max_frames * FRAME:
        lo, hi = start + min_frames, start + max_frames
        inside = [(first, n) for first, n in quiet_runs if first < hi and first + n > lo]
        cut = None
        for gap_s in (SENTENCE_GAP_S, WORD_GAP_S):
            fits = [(f, n) for f, n in inside if n * FRAME >= gap_s * 16000]
            if fits:
                first, n = fits[-1]
                cut = first + n // 2
                break
        if cut is None:
            first, n = max(inside, key=lambda r: r[1], default=(hi, 0))
            cut = first + n // 2
        cut = min(max(cut, lo), hi)  # the middle of a run may lie past the piece's bounds
        cuts.append(cut * FRAME)
        start = cut
    return cuts


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in `mask`."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _first_above(audio: np.ndarray, since: int, level: float) -> int:
    loud = np.flatnonzero(np.abs(audio[since:]) > level)
    return since + int(loud[0]) if loud.size else since


def _last_above(audio: np.ndarray, until: int, level: float) -> int:
    loud = np.flatnonzero(np.abs(audio[:until]) > level)
    return int(loud[-1]) if loud.size else min(until, len(audio)) - 1


class SpeechToText:
    """Shared by every call in the process; `transcribe` may be awaited from many calls at once."""

    def __init__(
        self,
        model: str = "",
        device: str = "auto",
        beam_size: int = 1,
        language: str | None = "en",
        workers: int = 2,
        detect_language: bool = True,
        window: bool = True,
        batch: bool = False,
        min_window_s: float = FULL_WINDOW_S,
    ) -> None:
        """`batch`: concurrent calls' encodes run as one batch (CPU; `encoder_batch.py`);
        `min_window_s`: the shortest window an utterance is encoded in (`whisper_window.py`)."""
        from faster_whisper import WhisperModel

        self.device, compute_type = whisper_device(device)
        with os_thread_named("stt"):  # CTranslate2's worker threads start here
            self._model = WhisperModel(
                model or str(whisper_base_dir()),
                device=self.device,
                compute_type=compute_type,
                cpu_threads=2,
                num_workers=workers,
            )
        self._beam_size = beam_size
        self._language = language or None
        self._detect = detect_language  # to notice callers speaking another language
        self._batcher = EncoderBatcher(self._model) if batch and self.device == "cpu" else None
        # With a batcher, more requests may be in flight so that they can meet in a batch.
        threads = max(workers, BATCH_THREADS) if self._batcher else workers
        # Turn ends first, pieces of turns still being spoken after them (priority_pool.py).
        self._pool = PriorityPool(threads, "stt", set_os_thread_name, ("stt",))
        # A caller's turn is seconds long: encode it once, on a window cut to its length.
        self._window = self._windowed(beam_size, min_window_s) if window else None
        # Whisper reads digit strings best in its own 30 s window ("four five two one" came
        # out "4 times 2 1" in a 10 s one): an utterance a shorter window heard read out a
        # digit string in (`digit_strings.py`; not "two weeks" or "$12") is decoded again in
        # the full window, and the others keep the short one's cost (about a sixth). See
        # docs/benchmarks.md, issue 15.
        self._numbers_window = (
            self._windowed(beam_size, FULL_WINDOW_S)
            if window and min_window_s < FULL_WINDOW_S
            else None
        )
        # Only its words are counted: a repeat or a misread digit does not matter there. An
        # unsure check is not decoded again at higher temperatures: the barge-in detector
        # does not count its words anyway, and looks again 0.2 s later with more speech.
        self._check_window = (
            self._windowed(beam_size, CHECK_WINDOW_S, pad_s=CHECK_PAD_S, fallback=False)
            if window
            else None
        )

    def _windowed(
        self, beam_size: int, min_window_s: float, pad_s: float = PAD_S, fallback: bool = True
    ) -> WindowedWhisper:
        """The shared model, encoding in windows of at least `min_window_s` (batched when
        concurrent encodes are)."""
        return WindowedWhisper(
            self._model,
            beam_size,
            min_window_s=min_window_s,
            pad_s=pad_s,
            encode=self._batcher.encode if self._batcher else None,
            fallback=fallback,
        )

    @property
    def model(self) -> Any:
        """The shared faster-whisper model."""
        return self._model

    def transcribe_sync(self, audio: np.ndarray) -> Transcript:
        """`audio` is mono float32 at 16 kHz, of any length."""
        framed = frame_speech(audio)
        if self._window is None:
            return self._transcribe_full(framed)
        if self._window.fits(framed):
            return self._transcribe_windowed(framed)
        return self._transcribe_pieces(audio)

    def _transcribe_windowed(
        self, audio: np.ndarray, language: str | None = None, detect: bool | None = None
    ) -> Transcript:
        window = self._window
        assert window is not None  # only called when transcribing in windows
        started = time.perf_counter()
        expected, detect = language or self._language, self._detect if detect is None else detect
        decoded = window.decode(audio, expected, detect, LANGUAGE_CONFIDENCE)
        if self._numbers_window is not None and reads_digits(decoded.text):
            decoded = self._numbers_window.decode(audio, expected, detect, LANGUAGE_CONFIDENCE)
        return _transcript(decoded, audio, started)

    def _transcribe_pieces(self, audio: np.ndarray) -> Transcript:
        """A turn longer than one window: cut in its pauses, each piece in a window of its own.

        Whisper's own 30 s windows (`_transcribe_full`) cut wherever 30 s falls, and the words
        across that edge were lost. The language is detected on the first piece only.
        """
        assert self._window is not None  # only called when transcribing in windows
        started = time.perf_counter()
        room = self._window.max_seconds - LEAD_S - TAIL_S - 2 * FRAME / 16000
        bounds = [0, *pause_cuts(audio, room), len(audio)]
        pieces: list[Transcript] = []
        for a, b in itertools.pairwise(bounds):
            piece = frame_speech(audio[a:b])
            first = not pieces
            pieces.append(
                self._transcribe_windowed(
                    piece,
                    None if first else pieces[0].language,
                    None if first else False,
                )
            )
        return joined(pieces, time.perf_counter() - started)

    def _transcribe_full(self, audio: np.ndarray) -> Transcript:
        """Whisper's own 30 s windows: for utterances too long for one short window."""
        started = time.perf_counter()
        segments, info = self._decode(audio, None if self._detect else self._language)
        if (
            self._language
            and info.language != self._language
            and info.language_probability < LANGUAGE_CONFIDENCE
        ):
            # An unsure guess at another language garbles the words: decode as expected.
            segments, info = self._decode(audio, self._language)
        text = " ".join(s.text.strip() for s in segments).strip()
        no_speech = max((s.no_speech_prob for s in segments), default=1.0)
        return Transcript(
            text=text,
            language=info.language,
            language_probability=float(info.language_probability),
            no_speech_probability=float(no_speech),
            audio_seconds=len(audio) / 16000,
            elapsed_seconds=time.perf_counter() - started,
            avg_logprob=min((float(s.avg_logprob) for s in segments), default=0.0),
        )

    def _decode(self, audio: np.ndarray, language: str | None) -> tuple[list, Any]:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self._beam_size,
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=True,
        )
        return list(segments), info

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        """Someone waits for this one: it goes before any piece (`submit_piece`)."""
        return await asyncio.wrap_future(self._pool.submit(self.transcribe_sync, audio))

    async def transcribe_check(self, audio: np.ndarray) -> Transcript:
        """A few seconds said over the agent, whose words decide a barge-in: urgent, in a
        short window, without language detection."""
        return await asyncio.wrap_future(self._pool.submit(self._check_sync, audio))

    def _check_sync(self, audio: np.ndarray) -> Transcript:
        window = self._check_window
        if window is None or not window.fits(audio):
            return self.transcribe_sync(audio)
        started = time.perf_counter()
        decoded = window.decode(frame_speech(audio), self._language, False, LANGUAGE_CONFIDENCE)
        return _transcript(decoded, audio, started)

    def submit_piece(self, audio: np.ndarray) -> Future:
        """A piece of a turn still being spoken: transcribed when no turn end waits."""
        return self._pool.submit(self.transcribe_sync, audio, priority=BACKGROUND)

    def hurry(self, piece: Future) -> None:
        """The piece's turn has ended: someone waits for it now."""
        self._pool.hurry(piece)

    def warm_up(self) -> None:
        with os_thread_named("stt"):
            self.transcribe_sync(np.zeros(16000, dtype=np.float32))
