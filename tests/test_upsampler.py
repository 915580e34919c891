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


def test_it_sounds_as_a_whole_file_resampled_in_one_go_two_ms_later() -> None:
    phone = phone_speech()
    ours = np.frombuffer(b"".join(upsample_in_frames(phone)), dtype=np.int16).astype(float)
    whole = soxr.resample(phone.astype(float), 8000, 16000, quality="VHQ")
    delay = 2 * HALF_TAPS  # output samples: HALF_TAPS input samples, 2 ms
    assert delay / 16000 <= 0.002
    ours, whole = ours[delay:], whole[: len(ours) - delay]
    snr_db = 10 * np.log10((whole**2).sum() / ((ours - whole) ** 2).sum())
    assert snr_db > 40  # the same sound; a frame or a sample out of place would be ~0 dB


def test_no_image_of_the_voice_band_is_made_above_four_khz() -> None:
    tone = (np.sin(2 * np.pi * 3000 * np.arange(8000) / 8000) * 12000).astype(np.int16)
    out = np.frombuffer(b"".join(upsample_in_frames(tone)), dtype=np.int16)[1000:].astype(float)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    freqs = np.fft.rfftfreq(len(out), 1 / 16000)
    at = {f: spectrum[np.argmin(abs(freqs - f))] for f in (3000, 5000)}
    assert 20 * np.log10(at[3000] / at[5000]) > 60


def test_loud_audio_is_clipped_not_wrapped() -> None:
    square = np.tile(np.r_[np.full(8, 32767), np.full(8, -32768)], 10).astype(np.int16)
    out = np.frombuffer(Upsampler(8000, 16000)(square.tobytes()), dtype=np.int16)
    heard = out[2 * HALF_TAPS :].astype(int)  # the input's samples are the even ones
    assert heard[::2].tolist() == square[: len(square) - HALF_TAPS].tolist()
    # Between two samples at a rail the filter rings past it: clipped there, never wrapped.
    between = heard[1::2][: len(heard[::2]) - 1]
    rails = square[: len(between) + 1].astype(int)
    same = rails[:-1] == rails[1:]
    assert (np.sign(between[same]) == np.sign(rails[:-1][same])).all()
    assert np.abs(between[same]).min() > 20000  # ringing dips, but stays near the rail


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
