"""A recording's waveform (peak level per slice, per channel) for the player to draw.

Read in chunks, so an hour-long call costs a few MB of memory, not the whole file.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

SLICES = 800
CHUNK_FRAMES = 1 << 16


def _peaks(samples: np.ndarray, per_slice: int) -> np.ndarray:
    """Peak |sample| of each run of `per_slice` frames, per channel (frames x channels in)."""
    usable = len(samples) - len(samples) % per_slice
    peaks = (
        np.abs(samples[:usable].astype(np.int32))
        .reshape(-1, per_slice, samples.shape[1])
        .max(axis=1)
    )
    if usable < len(samples):  # a short last slice
        tail = np.abs(samples[usable:].astype(np.int32)).max(axis=0, keepdims=True)
        peaks = np.vstack([peaks, tail])
    return peaks


def waveform(path: Path, slices: int = SLICES) -> dict:
    """{"duration_s", "caller": [0..1], "agent": [0..1]} (mono files count as both sides)."""
    with wave.open(str(path), "rb") as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        frames = wav.getnframes()
        if width != 2 or frames == 0 or rate <= 0:
            return {"duration_s": frames / rate if rate else 0.0, "caller": [], "agent": []}
        per_slice = max(1, -(-frames // slices))
        chunk = max(per_slice, CHUNK_FRAMES // per_slice * per_slice)  # whole slices per read
        parts = []
        while True:
            data = wav.readframes(chunk)
            if not data:
                break
            samples = np.frombuffer(data, dtype="<i2")
            samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
            parts.append(_peaks(samples, per_slice))
    peaks = np.vstack(parts) / 32768.0
    left, right = peaks[:, 0], peaks[:, 1 if channels > 1 else 0]
    return {
        "duration_s": round(frames / rate, 3),
        "caller": np.round(left, 3).tolist(),
        "agent": np.round(right, 3).tolist(),
    }
