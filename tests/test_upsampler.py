"""Caller audio from Twilio's 8 kHz to the pipeline's 16 kHz (voice/pipeline/upsampler.py):
every 20 ms media message reaches the VAD at once, as 20 ms of audio, and sounds as a
high-quality resampler makes it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import soxr
from pipecat.frames.frames import InputAudioRawFrame

from telephony.audio_files import mulaw_encode
from voice.pipeline.serializer import CallSerializer
from voice.pipeline.upsampler import HALF_TAPS, Upsampler
from voice.session import CallSession
from voice.store.calls import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
FRAME = 160  # a 20 ms media message at 8 kHz


def phone_speech() -> np.ndarray:
    audio, rate = sf.read(SAMPLES / "order_status.wav", dtype="int16")
    phone = soxr.resample(audio, rate, 8000, quality="VHQ")
    return phone[: len(phone) // FRAME * FRAME]


def upsample_in_frames(audio: np.ndarray) -> list[bytes]:
    up = Upsampler(8000, 16000)
    return [up(audio[i : i + FRAME].tobytes()) for i in range(0, len(audio), FRAME)]


def test_every_frame_comes_out_at_once_and_whole() -> None:
    """pipecat's soxr stream gave nothing for four frames and then 95 ms at once."""
    frames = upsample_in_frames(phone_speech())
    assert {len(f) for f in frames} == {2 * FRAME * 2}  # 320 int16 samples every time


def test_it_sounds_as_a_whole_file_resampled_in_one_go_four_ms_later() -> None:
    phone = phone_speech()
    ours = np.frombuffer(b"".join(upsample_in_frames(phone)), dtype=np.int16).astype(float)
    whole = soxr.resample(phone.astype(float), 8000, 16000, quality="VHQ")
    delay = 2 * HALF_TAPS  # output samples: HALF_TAPS input samples, 4 ms
    assert delay / 16000 <= 0.004
    ours, whole = ours[delay:], whole[: len(ours) - delay]
    snr_db = 10 * np.log10((whole**2).sum() / ((ours - whole) ** 2).sum())
    assert snr_db > 30  # the same sound; a frame or a sample out of place would be ~0 dB


def tone_through(hz: float) -> tuple[np.ndarray, np.ndarray]:
    tone = (np.sin(2 * np.pi * hz * np.arange(8000) / 8000) * 12000).astype(np.int16)
    out = np.frombuffer(b"".join(upsample_in_frames(tone)), dtype=np.int16)[1000:9000]
    # 8000 samples at 16 kHz: 2 Hz bins, so every tone here sits on a bin
    spectrum = np.abs(np.fft.rfft(out.astype(float) * np.hanning(len(out))))
    return spectrum, np.fft.rfftfreq(len(out), 1 / 16000)


def level_at(spectrum: np.ndarray, freqs: np.ndarray, hz: float) -> float:
    near = np.abs(freqs - hz) <= 5  # the tone's peak, wherever it falls between two bins
    return 20 * np.log10(spectrum[near].max() + 1e-9)


@pytest.mark.parametrize(("hz", "below_db"), [(3000, 60), (3400, 60), (3900, 40)])
def test_no_copy_of_the_voice_band_is_made_above_four_khz(hz: float, below_db: float) -> None:
    """Upsampling makes a mirror image of 0-4 kHz above 4 kHz (a tone at f comes back at
    8 kHz - f). Let through just above 4 kHz, it made Whisper hear "four times two one"."""
    spectrum, freqs = tone_through(hz)
    assert level_at(spectrum, freqs, hz) - level_at(spectrum, freqs, 8000 - hz) > below_db


def test_the_voice_band_passes_at_full_level() -> None:
    for hz in (300, 1000, 3400):
        spectrum, freqs = tone_through(hz)
        reference, _ = tone_through(1000)
        assert abs(level_at(spectrum, freqs, hz) - level_at(reference, freqs, 1000)) < 0.5


def test_loud_audio_is_clipped_not_wrapped() -> None:
    """A full-scale step makes the filter ring past the rail; clipped, it stays at the rail,
    wrapped it would jump to the other end of the scale."""
    square = np.tile(np.r_[np.zeros(16), np.full(16, 32767)], 10).astype(np.int16)
    out = np.frombuffer(Upsampler(8000, 16000)(square.tobytes()), dtype=np.int16)
    assert out.max() == 32767  # it did ring past the rail
    assert out.min() > -10000  # the ringing below zero, never the wrapped overshoot (~-32000)


def test_a_rate_that_is_not_a_whole_multiple_is_refused() -> None:
    with pytest.raises(ValueError, match="not a whole multiple"):
        Upsampler(8000, 11025)


async def test_the_serializer_hands_the_pipeline_each_media_message_at_16_khz(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    session = CallSession("CA" + "3" * 32, "MZ" + "3" * 32, "", tmp_path, store)
    serializer = CallSerializer(session, on_stop=lambda: None)
    await serializer.setup(SimpleNamespace(audio_in_sample_rate=16000))  # what the worker gives
    phone = phone_speech()
    frames = []
    for i in range(0, len(phone), FRAME):
        payload = base64.b64encode(mulaw_encode(phone[i : i + FRAME])).decode()
        message = {"event": "media", "media": {"payload": payload, "timestamp": str(i // 8)}}
        frames.append(await serializer.deserialize(json.dumps(message)))
    assert all(isinstance(f, InputAudioRawFrame) and f.sample_rate == 16000 for f in frames)
    assert {len(f.audio) // 2 for f in frames} == {2 * FRAME}
    session.close("completed")
