"""Caller audio for the simulator: read any WAV, convert to Twilio's 8 kHz mono, G.711 mu-law.

The mu-law codec is written out in numpy because `audioop` is deprecated (and gone in 3.13).
It is the classic G.711 reference (Sun's g711.c, which audioop and ffmpeg also use: 14-bit
magnitude, bias 33, clip 8159), so its bytes match theirs exactly and 0xFF is digital silence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz: the size of every Twilio media payload
MULAW_SILENCE = 0xFF

_BIAS = 0x84  # decoder bias on the 16-bit scale
_BIAS14 = _BIAS >> 2  # encoder bias on the 14-bit scale
_CLIP14 = 8159

# Segment of a biased 14-bit magnitude v, indexed by v >> 6 (segment 8 means "over the top").
_SEGMENT = np.array([v.bit_length() for v in range(1 << 8)], dtype=np.int32)


def _decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


_DECODE = _decode_table()


class AudioFileError(Exception):
    """A caller audio file that cannot be used; the message is one line for the terminal."""


def mulaw_encode(samples: np.ndarray) -> bytes:
    """int16 PCM -> G.711 mu-law bytes."""
    pcm = np.asarray(samples, dtype=np.int32) >> 2  # arithmetic shift, as in g711.c
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _CLIP14) + _BIAS14
    segment = _SEGMENT[magnitude >> 6]
    mantissa = (magnitude >> (np.minimum(segment, 7) + 1)) & 0x0F
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    return (code ^ mask).astype(np.uint8).tobytes()


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> int16 PCM."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def load_caller_audio(path: str | Path) -> np.ndarray:
    """Read an audio file of any rate, channel count and sample format as int16 mono 8 kHz."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({_first_line(exc)})") from exc
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the audio file is empty")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return float_to_int16(mono)


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def frame_peaks(samples: np.ndarray) -> np.ndarray:
    """Peak magnitude of each 20 ms frame (the last one may be short)."""
    pcm = np.abs(np.asarray(samples, dtype=np.int32))
    if pcm.size == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.arange(0, pcm.size, FRAME_SAMPLES)
    return np.maximum.reduceat(pcm, starts)


def speech_bounds(
    samples: np.ndarray, floor: int = 100, relative: float = 0.03
) -> tuple[float, float]:
    """(start_s, end_s) of the speech in a clip, found by frame energy.

    A frame counts as speech when its RMS is above `floor` (about -50 dBFS) and above `relative`
    of the loudest frame, so a recording's noise floor does not stretch the speech. A clip
    with no speech at all gives (0.0, 0.0).
    """
    pcm = np.asarray(samples, dtype=np.float64)
    count = pcm.size // FRAME_SAMPLES
    if count == 0:
        return 0.0, 0.0
    frames = pcm[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = np.flatnonzero(rms > max(floor, relative * rms.max()))
    if loud.size == 0:
        return 0.0, 0.0
    frame_s = FRAME_SAMPLES / SAMPLE_RATE
    return float(loud[0] * frame_s), float((loud[-1] + 1) * frame_s)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
