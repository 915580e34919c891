"""Issue 6 pieces on their own: the short Whisper window, the TTS lead-in trim, the turn-end
detector's decisions, and the underrun count the load bench reports."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pipecat.frames.frames import (
    InputAudioRawFrame,
    UserSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from telephony.simulator import SimulatedTurn, SimulationResult
from voice.engines.tts import LEAD_IN_S, trim_leading_silence
from voice.engines.whisper_window import FULL_WINDOW_FRAMES, window_frames
from voice.pipeline.turn_end import CallerAudio, TurnEndDetector, TurnTiming
from voice.pipeline.turn_frames import CallerPauseFrame, CallerResumedFrame, CallerTurnEndFrame

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is scripts, not an installed package

from bench.underruns import underruns  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
TIMING = TurnTiming(pause_s=0.2, complete_s=0.3, stop_s=0.6)


def test_whisper_window_covers_the_speech_with_a_floor_and_a_ceiling():
    assert window_frames(261, min_window_s=15, pad_s=3) == 1500  # a short turn: the floor
    assert window_frames(1450, min_window_s=15, pad_s=3) == 1800  # speech + pad, whole seconds
    assert window_frames(2900, min_window_s=15, pad_s=3) == FULL_WINDOW_FRAMES


def test_windowed_whisper_transcribes_a_turn_faster_than_the_full_window():
    from voice.engines.stt import SpeechToText

    audio, _ = sf.read(SAMPLES / "order_status.wav", dtype="float32")
    stt = SpeechToText()
    full = SpeechToText.__new__(SpeechToText)  # the same model, without the window
    full.__dict__.update(stt.__dict__, _window=None)
    stt.transcribe_sync(audio), full.transcribe_sync(audio)  # warm both paths
    windowed, whole = stt.transcribe_sync(audio), full.transcribe_sync(audio)
    assert "order" in windowed.text.lower() and windowed.language == "en"
    assert windowed.is_speech
    assert windowed.elapsed_seconds < whole.elapsed_seconds


async def test_a_barge_in_check_counts_words_in_a_short_window():
    from voice.engines.stt import CHECK_PAD_S, CHECK_WINDOW_S, SpeechToText
    from voice.pipeline.backchannel import real_words

    # The first 1.1 s of speech a barge-in check hears (0.3 s of each file is silence).
    heard = {}
    stt = SpeechToText()
    for name in ("long_question", "agent_please", "okay", "yeah_yeah"):
        audio, _ = sf.read(SAMPLES / f"{name}.wav", dtype="float32")
        heard[name] = (await stt.transcribe_check(audio[: int(1.4 * 16000)])).text
    assert len(real_words(heard["long_question"])) >= 1, heard
    assert len(real_words(heard["agent_please"])) >= 1, heard
    assert len(real_words(heard["okay"])) == 0 and len(real_words(heard["yeah_yeah"])) == 0, heard
    # The first checks (0.6-0.8 s of audio) are encoded in 2 s; 4 s and the padding in 5 s.
    assert window_frames(80, CHECK_WINDOW_S, CHECK_PAD_S) == 200
    assert window_frames(400, CHECK_WINDOW_S, CHECK_PAD_S) == 500


def test_tts_lead_in_is_trimmed_to_a_short_margin():
    rate = 24000
    voice = np.cos(np.linspace(0, 200, rate // 2)).astype(np.float32) * 0.5
    audio = np.concatenate([np.zeros(rate // 4, np.float32), voice])
    trimmed = trim_leading_silence(audio, rate)
    assert len(trimmed) == len(voice) + int(LEAD_IN_S * rate)
    silent = np.zeros(100, np.float32)
    assert trim_leading_silence(silent, rate) is silent


def test_caller_audio_keeps_the_utterance_with_its_pre_speech():
    audio = CallerAudio(sample_rate=1000, keep_s=2.0)
    for _ in range(30):
        audio.add(np.full(100, 1000, dtype=np.int16))  # 3 s, only the last 2 s kept
    audio.mark_utterance(started_s_ago=0.5)
    assert len(audio.utterance(max_s=8.0)) == 500
    audio.mark_utterance(started_s_ago=5.0)
    assert len(audio.utterance(max_s=8.0)) == 2000  # no more than is kept


class _Session:
    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0


class _SmartTurn:
    def __init__(self, probability: float) -> None:
        self.probability_value = probability

    async def probability(self, audio: np.ndarray) -> float:
        return self.probability_value


def _audio(seconds: float, level: int) -> list:
    chunk = np.full(320, level, dtype=np.int16).tobytes()  # 20 ms at 16 kHz
    return [
        InputAudioRawFrame(audio=chunk, sample_rate=16000, num_channels=1)
        for _ in range(round(seconds / 0.02))
    ]


def _speech(seconds: float) -> list:
    return _audio(seconds, 3000)


def _silence(seconds: float) -> list:
    return _audio(seconds, 0)


async def _turn_end(probability: float | None, frames: list) -> list:
    smart = None if probability is None else (lambda p=probability: _SmartTurn(p))
    detector = TurnEndDetector(_Session(), TIMING, smart)
    down, _ = await run_test(detector, frames_to_send=frames)
    return [f for f in down if not isinstance(f, (InputAudioRawFrame, UserSpeakingFrame))]


class _Playback:
    agent_speaking = True

    def cleared(self) -> list:
        return []


class _TalkingSession(_Session):
    """The agent is talking; what the barge-in detector logs is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.playback, self.events = _Playback(), []

    def event(self, kind: str, **fields: object) -> None:
        self.events.append(kind)


async def test_a_barge_in_comes_on_the_audio_not_on_pipecats_speaking_ticks():
    """pipecat's VAD says "still speaking" at most every 0.2 s; the caller's audio frames
    (every 20 ms) are enough to stop the agent once the speech is long enough."""
    from pipecat.frames.frames import InterruptionFrame

    from voice.pipeline.barge_in import BargeInDetector

    session = _TalkingSession()
    detector = BargeInDetector(session, min_secs=0.3)
    down, _ = await run_test(
        detector,
        frames_to_send=[
            VADUserStartedSpeakingFrame(start_secs=0.2),  # 0.2 s of speech so far
            *_speech(0.04),
            SleepFrame(sleep=0.15),  # 0.35 s now: no UserSpeakingFrame comes
            *_speech(0.02),
        ],
    )
    assert session.events == ["barge_in"]
    assert any(isinstance(f, InterruptionFrame) for f in down)


def _pause() -> list:
    """What the VAD does: a stop after `pause_s` of quiet; then Smart-Turn gets a moment."""
    return [
        *_silence(TIMING.pause_s),
        VADUserStoppedSpeakingFrame(stop_secs=TIMING.pause_s),
        SleepFrame(sleep=0.05),
    ]


@pytest.mark.parametrize(
    ("probability", "reason", "waited"),
    [
        (0.9, "complete", TIMING.complete_s),
        (0.1, "silence", TIMING.stop_s),
        (None, "silence", TIMING.stop_s),
    ],
)
async def test_a_pause_ends_the_turn_sooner_when_it_sounds_complete(probability, reason, waited):
    frames = await _turn_end(
        probability,
        [
            VADUserStartedSpeakingFrame(),
            *_speech(0.4),
            *_pause(),
            *_silence(1.0),
            SleepFrame(sleep=0.1),
        ],
    )
    assert [type(f) for f in frames] == [
        VADUserStartedSpeakingFrame,
        CallerPauseFrame,
        CallerTurnEndFrame,
    ]
    end = frames[-1]
    assert end.reason == reason and end.complete_probability == probability
    assert end.stop_secs == pytest.approx(waited, abs=0.021)  # counted in audio, to a frame


async def test_speaking_again_within_the_pause_keeps_one_turn():
    frames = await _turn_end(
        0.1,
        [
            VADUserStartedSpeakingFrame(),
            *_speech(0.2),
            *_pause(),
            *_silence(0.1),
            VADUserStartedSpeakingFrame(),
            *_speech(0.2),
            *_pause(),
            *_silence(1.0),
            SleepFrame(sleep=0.1),
        ],
    )
    assert [type(f) for f in frames] == [
        VADUserStartedSpeakingFrame,
        CallerPauseFrame,
        CallerResumedFrame,
        CallerPauseFrame,
        CallerTurnEndFrame,
    ]


async def test_a_voice_coming_back_before_the_vad_sees_it_holds_the_turn_open():
    frames = await _turn_end(
        0.9,
        [
            VADUserStartedSpeakingFrame(),
            *_speech(0.4),
            *_pause(),
            *_silence(0.04),
            *_speech(0.1),
            *_silence(1.0),
            SleepFrame(sleep=0.1),
        ],
    )
    end = frames[-1]
    assert isinstance(end, CallerTurnEndFrame) and end.reason == "silence"
    assert end.stop_secs == pytest.approx(TIMING.stop_s, abs=0.021)


async def test_a_stream_that_stops_delivering_audio_still_ends_the_turn():
    """No frames after the pause (a stalled stream): the audio clock stands still, so the
    wall-clock guard ends the turn, and says that is how it ended."""
    frames = await _turn_end(
        None, [VADUserStartedSpeakingFrame(), *_speech(0.4), *_pause(), SleepFrame(sleep=2.0)]
    )
    end = frames[-1]
    assert isinstance(end, CallerTurnEndFrame) and end.reason == "stalled"


def _result(media: list[tuple[float, int]], caller_end: float) -> SimulationResult:
    events = [{"event": "media", "t": t, "media": {"payload_bytes": size}} for t, size in media]
    turn = SimulatedTurn(0, "x.wav", 0.0, caller_end)
    return SimulationResult(
        "CA1",
        "MZ1",
        "+1",
        "",
        [turn],
        np.zeros(0, np.int16),
        np.zeros(0, np.int16),
        [],
        [],
        [],
        events,
        1000,
    )


def test_underruns_count_only_gaps_inside_a_reply():
    steady = [(0.0 + i * 0.01, 160) for i in range(10)]  # sent twice as fast as played
    assert underruns(_result(steady, caller_end=5.0)).count == 0
    gap = [*steady, (0.5, 160)]  # the buffer ran dry at 0.2 s
    found = underruns(_result(gap, caller_end=5.0))
    assert found.count == 1 and found.seconds == pytest.approx(0.3)
    next_reply = [*steady, (6.0, 160)]  # the reply to the caller's next turn
    assert underruns(_result(next_reply, caller_end=5.0)).count == 0


def test_a_long_first_sentence_is_spoken_from_its_first_clause():
    from voice.pipeline.sentences import SentenceSplitter

    splitter = SentenceSplitter()
    assert splitter.feed("I checked order 4521 for you, and") == ["I checked order 4521 for you,"]
    assert splitter.feed(" it ships today, as planned. Anything") == [
        "and it ships today, as planned."
    ]
    assert splitter.flush() == ["Anything"]
    prepared = SentenceSplitter()  # a whole reply at once still splits at sentence ends
    assert prepared.feed("Sure, I can help with that, of course. Goodbye for now. ") == [
        "Sure, I can help with that, of course.",
        "Goodbye for now.",
    ]
    brackets = SentenceSplitter()
    assert brackets.feed("Order 4610 (2 x Water Bottle, Lunch Bag) is on its way,") == []


def test_calls_share_one_silero_session_and_keep_their_own_state():
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from voice.pipeline.shared_vad import SharedSileroVADAnalyzer

    audio, _ = sf.read(SAMPLES / "hello.wav", dtype="int16")
    windows = [audio[i : i + 512].tobytes() for i in range(0, len(audio) - 512, 512)]
    own = SileroVADAnalyzer(sample_rate=16000)
    first, second = (SharedSileroVADAnalyzer(sample_rate=16000) for _ in range(2))
    for vad in (own, first, second):
        vad.set_sample_rate(16000)
    assert first._model.session is second._model.session
    expected = [np.asarray(own.voice_confidence(w)).item() for w in windows]
    assert max(expected) > 0.9  # the sample holds speech
    shared = [np.asarray(first.voice_confidence(w)).item() for w in windows]
    assert shared == pytest.approx(expected, abs=1e-5)
    again = np.asarray(second.voice_confidence(windows[0])).item()
    assert again == pytest.approx(expected[0], abs=1e-5)


class _CountingVoice:
    """The packaged voice, counting what it is asked to render."""

    def __init__(self) -> None:
        from voice.engines.tts import HibariEngine

        self._engine = HibariEngine()
        self.name, self.sample_rate = self._engine.name, self._engine.sample_rate
        self.languages = self._engine.languages
        self.rendered: list[str] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.rendered.append(text)
        return self._engine.synthesize(text)


async def test_a_sentence_said_again_plays_from_memory_but_none_with_digits(monkeypatch):
    from voice.engines import tts as tts_module

    voice = _CountingVoice()
    tts = tts_module.SpeechSynthesizer(voice)
    tts.prepare("Sorry, I'm having trouble speaking right now.", ["Please stay on the line."])
    voice.rendered.clear()
    fixed = "Please stay on the line."
    assert tts.remembered(fixed) == tts.prepared[fixed]
    again = "Is there anything else I can help with?"
    assert tts.remembered(again) is None
    first = await tts.synthesize(again)
    assert tts.remembered(again) == first
    number = "Your order 4521 is on its way."
    await tts.synthesize(number)
    assert tts.remembered(number) is None  # caller-specific: never kept
    assert voice.rendered == [again, number]
    # The memory is bounded: the oldest sentence goes first.
    monkeypatch.setattr(tts_module, "RECENT_BYTES", len(first) + 1)
    await tts.synthesize("Thanks for waiting.")
    assert tts.remembered(again) is None and tts.remembered("Thanks for waiting.") is not None
