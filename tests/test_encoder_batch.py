"""Batched Whisper encoding gives each call the same words as encoding alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from voice.engines.stt import SpeechToText

CLIPS = ["hello.wav", "order_status.wav", "goodbye.wav", "agent_please.wav"]


def load(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return audio


def test_concurrent_utterances_are_encoded_together_and_heard_the_same(samples: Path):
    clips = [load(samples / name) for name in CLIPS]
    alone = SpeechToText(workers=1)
    expected = [alone.transcribe_sync(clip).text for clip in clips]
    assert all(expected), expected

    batched = SpeechToText(batch=True)
    with ThreadPoolExecutor(max_workers=len(clips)) as pool:
        heard = list(pool.map(lambda clip: batched.transcribe_sync(clip).text, clips))
    assert heard == expected
    sizes = batched._batcher.batch_sizes
    assert sum(sizes) == len(clips)  # one encode per utterance
    assert max(sizes) > 1, sizes  # requests that met were encoded as one batch
