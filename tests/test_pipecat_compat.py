"""Each pipecat internal we reach (voice/pipeline/pipecat_compat.py), with the real models.

A pipecat upgrade that renames or changes one of them fails here, by name, rather than in a
call. The last tests run the Smart-Turn path of the turn-end detector on the packaged model.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import soundfile as sf
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.frames.frames import (
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from voice.pipeline import pipecat_compat as compat
from voice.pipeline.shared_vad import SharedSileroVADAnalyzer, shared_session
from voice.pipeline.smart_turn import SmartTurn, shared_smart_turn
from voice.pipeline.turn_end import TurnEndDetector, TurnTiming
from voice.pipeline.turn_frames import CallerTurnEndFrame

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
RATE = 16000


def speech(name: str = "hello") -> np.ndarray:
    """A sample caller sentence, int16 at 16 kHz, cut where the voice ends."""
    audio, rate = sf.read(SAMPLES / f"{name}.wav", dtype="int16")
    assert rate == RATE and audio.ndim == 1
    voiced = np.nonzero(np.abs(audio) > 600)[0]
    return audio[: voiced[-1] + 1]


# -- the version check ---------------------------------------------------------------------
def test_the_installed_pipecat_is_the_tested_one_and_has_every_internal():
    assert compat.missing_internals() == []
    assert compat.check_pipecat() is None  # pyproject pins the tested version


def test_another_pipecat_version_is_named_in_a_warning():
    warning = compat.check_pipecat("1.99.0")
    assert warning is not None
    assert "1.99.0" in warning and compat.TESTED_PIPECAT in warning


# -- 1. Silero VAD -------------------------------------------------------------------------
def test_silero_model_file_ships_in_pipecat_and_opens():
    path = Path(compat.silero_model_path())
    assert path.is_file() and path.stat().st_size > 1_000_000
    inputs = {i.name for i in onnxruntime.InferenceSession(str(path)).get_inputs()}
    assert inputs == {"input", "state", "sr"}


def test_silero_wrapper_on_a_shared_session_scores_as_pipecats_own():
    audio = speech().astype(np.float32) / 32768.0
    windows = [audio[i : i + 512][None, :] for i in range(0, len(audio) - 512, 512)]
    own = SileroOnnxModel(compat.silero_model_path())
    shared = compat.silero_model_on(shared_session())
    expected = [float(own(w, RATE)[0][0]) for w in windows]
    assert max(expected) > 0.9  # the sample holds speech
    assert [float(shared(w, RATE)[0][0]) for w in windows] == pytest.approx(expected, abs=1e-5)


def test_silero_analyzer_state_is_what_pipecats_init_sets():
    own = SileroVADAnalyzer(sample_rate=RATE)
    ours = SharedSileroVADAnalyzer(sample_rate=RATE)
    assert set(compat.SILERO_ANALYZER_STATE) <= set(vars(own))
    assert set(vars(ours)) == set(vars(own))  # nothing pipecat's __init__ sets is left out
    state = [name for name in compat.SILERO_ANALYZER_STATE if name != "_model"]
    assert [vars(ours)[name] for name in state] == [vars(own)[name] for name in state]
    assert isinstance(ours._model, SileroOnnxModel) and ours._model.session is shared_session()


# -- 2. Smart-Turn -------------------------------------------------------------------------
def test_smart_turn_prediction_step_hears_a_finished_sentence_and_a_cut_one():
    analyzer = compat.smart_turn_analyzer(RATE)
    sentence = speech().astype(np.float32) / 32768.0
    finished = np.concatenate([sentence, np.zeros(RATE // 10, np.float32)])
    cut = sentence[: int(len(sentence) * 0.55)]
    assert compat.smart_turn_probability(analyzer, finished) >= 0.5
    assert compat.smart_turn_probability(analyzer, cut) < 0.5


# -- the Smart-Turn path of the turn-end detector, with the packaged model -----------------
class _Session:
    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0


TIMING = TurnTiming(pause_s=0.2, complete_s=0.45, stop_s=1.2, complete_probability=0.5)


def _frames(audio: np.ndarray, trailing_s: float) -> list:
    """The sentence then silence, in 20 ms frames, with the VAD's start and its stop after
    `pause_s` of quiet; then the model gets time to answer, even on a busy CPU (less than the
    1 s without audio that the detector would call a stalled stream)."""
    chunk = RATE // 50
    stop_at = len(audio) + int(TIMING.pause_s * RATE)
    audio = np.concatenate([audio, np.zeros(int(trailing_s * RATE), np.int16)])
    frames: list = [VADUserStartedSpeakingFrame(start_secs=0.2)]
    for i in range(0, len(audio) - chunk + 1, chunk):
        frames.append(InputAudioRawFrame(audio[i : i + chunk].tobytes(), RATE, 1))
        if i < stop_at <= i + chunk:
            frames += [VADUserStoppedSpeakingFrame(stop_secs=TIMING.pause_s), SleepFrame(0.8)]
    return [*frames, SleepFrame(0.2)]


async def _turn_end(audio: np.ndarray, timing: TurnTiming = TIMING) -> CallerTurnEndFrame:
    shared_smart_turn()  # loaded and warmed first, as the server does at start-up
    detector = TurnEndDetector(_Session(), timing, shared_smart_turn, sample_rate=RATE)  # type: ignore[arg-type]
    down, _ = await run_test(detector, frames_to_send=_frames(audio, trailing_s=1.6))
    (end,) = [f for f in down if isinstance(f, CallerTurnEndFrame)]
    return end


async def test_a_finished_sentence_ends_the_turn_on_the_short_silence():
    end = await _turn_end(speech())
    assert end.complete_probability is not None and end.complete_probability >= 0.5
    assert end.reason == "complete"
    assert end.stop_secs == pytest.approx(TIMING.complete_s, abs=0.05)


async def test_a_verdict_below_the_threshold_waits_for_the_long_silence():
    """The same audio, so the same verdict from the model; a threshold above it."""
    first = await _turn_end(speech())
    assert first.complete_probability is not None
    strict = TurnTiming(
        pause_s=TIMING.pause_s,
        complete_s=TIMING.complete_s,
        stop_s=TIMING.stop_s,
        complete_probability=min(1.0, first.complete_probability + 0.01),
    )
    end = await _turn_end(speech(), strict)
    assert end.complete_probability == pytest.approx(first.complete_probability, abs=1e-4)
    assert end.reason == "silence"
    assert end.stop_secs == pytest.approx(TIMING.stop_s, abs=0.05)


def test_the_shared_model_is_loaded_once():
    assert isinstance(shared_smart_turn(), SmartTurn) and shared_smart_turn() is shared_smart_turn()


async def test_a_reply_starts_with_frames_sent_ahead_then_paced_at_twice_real_time():
    """pipecat's own websocket output, its pacing step wrapped: the first frames of a reply go
    at once, the rest one per half frame; after a pause (the next reply) the lead is sent again."""
    from pipecat.transports.websocket.fastapi import (
        FastAPIWebsocketOutputTransport,
        FastAPIWebsocketParams,
    )

    output = FastAPIWebsocketOutputTransport(None, None, FastAPIWebsocketParams())
    assert output._next_send_time == 0  # the clock the wrapper reads, as pipecat sets it
    output._send_interval = 0.02 / 2  # what setup() sets for 20 ms frames
    compat.send_ahead_at_reply_start(output, frames=5)

    async def send(frames: int) -> list[float]:
        sent = []
        for _ in range(frames):
            started = time.monotonic()
            await output._write_audio_sleep()
            sent.append(time.monotonic() - started)
        return sent

    first = await send(10)
    assert sum(first[:5]) < 0.02, first  # the lead: no waiting (paced, 5 frames take 50 ms)
    assert sum(first[5:]) >= 0.035, first  # then pipecat's pacing, 10 ms a frame
    await asyncio.sleep(0.1)  # the reply is over; the next one starts
    again = await send(10)
    assert sum(again[:5]) < 0.02 and sum(again[5:]) >= 0.035, again
