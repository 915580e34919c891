"""What the agent said, heard back with the packaged Whisper model (for the transcript)."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

import numpy as np
import soxr

from telephony.audio_files import SAMPLE_RATE, speech_bounds

if TYPE_CHECKING:
    from faster_whisper import WhisperModel


@functools.cache
def _whisper_model() -> WhisperModel:
    """The packaged Whisper base model, loaded once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # it is a local folder: never reach the hub
    # Imported here: faster-whisper is slow to import and only needed when transcribing.
    from faster_whisper import WhisperModel

    from voice.engines.models import whisper_base_dir

    return WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8")


def transcribe_audio(pcm: np.ndarray) -> str:
    """Transcribe 8 kHz int16 agent audio (blocking: run it in a thread)."""
    start, end = speech_bounds(pcm)
    if end <= start:
        return ""  # Whisper invents words for silence
    lo, hi = max(0, int((start - 0.2) * SAMPLE_RATE)), int((end + 0.2) * SAMPLE_RATE)
    clip = pcm[lo:hi].astype(np.float32) / 32768.0
    audio = soxr.resample(clip, SAMPLE_RATE, 16000).astype(np.float32)
    segments, _ = _whisper_model().transcribe(audio, language="en", beam_size=5)
    return " ".join(segment.text.strip() for segment in segments).strip()
