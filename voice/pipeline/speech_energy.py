"""Where the caller's voice really stopped, and whether it came back, from frame energy.

Silero's VAD reports a stop only after its confidence has decayed and `stop_secs` of quiet
frames have passed; its end of speech is ~0.1 s late. The energy of each 20 ms frame, against
the loudest frame of the utterance, places the end of the voice to a frame, and notices the
voice coming back well before the VAD's `start_secs` of speech confirm it. On a noisy line,
where energy cannot tell voice from noise, the VAD's own timing is kept.

`has_voice` tells the transcriber whether the caller said something in a stretch of audio it
would otherwise not transcribe (after an early transcript, after a long turn's last piece).
"""

from __future__ import annotations

from collections import deque

import numpy as np

FLOOR_RMS = 100.0  # about -50 dBFS: quieter than this is never voice
RELATIVE = 0.05  # of the utterance's loudest frame (-26 dB)
KEEP_S = 12.0
AGREE_S = 0.12  # the energy end may trail the VAD's by this much and still be trusted
MAX_EARLIER_S = 0.2  # nor lead it by more than this
NOISE_FACTOR = 3.0  # the voice coming back is this much louder than the pause
FRAME = 320  # 20 ms at 16 kHz
VOICE_FRAMES = 3  # voice for this many frames in a row (60 ms) is a sound, not a click
NOISE_PERCENTILE = 5  # a pause's line noise: its quietest frames


class SpeechEnergy:
    def __init__(self) -> None:
        self._frames: deque[tuple[float, float]] = deque()  # (time it ended, RMS)
        self._utterance_start = 0.0

    def add(self, samples: np.ndarray, at_s: float) -> float:
        """Record a frame that ended at `at_s`; returns its RMS."""
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
        self._frames.append((at_s, rms))
        while self._frames and self._frames[0][0] < at_s - KEEP_S:
            self._frames.popleft()
        return rms

    def start_utterance(self, at_s: float) -> None:
        self._utterance_start = at_s

    def threshold(self) -> float:
        peak = max((rms for t, rms in self._frames if t >= self._utterance_start), default=0.0)
        return max(FLOOR_RMS, RELATIVE * peak)

    def speech_end(self, vad_end_s: float) -> tuple[float, bool]:
        """(end of the voice, whether energy placed it) given the VAD's estimate."""
        level = self.threshold()
        voiced = [t for t, rms in self._frames if rms > level and t >= self._utterance_start]
        if not voiced or voiced[-1] > vad_end_s + AGREE_S:
            return vad_end_s, False  # noise, or the VAD knows better: keep its timing
        return max(voiced[-1], vad_end_s - MAX_EARLIER_S), True

    def voice_level(self, pause_from_s: float) -> float:
        """The level that counts as the voice coming back: speech-like, and well above the
        line's own noise in the pause so far."""
        pause = [rms for t, rms in self._frames if t > pause_from_s]
        noise = float(np.median(pause)) if pause else 0.0
        return max(self.threshold(), NOISE_FACTOR * noise)


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """The RMS of each whole 20 ms frame of int16-scaled `samples`."""
    count = len(samples) // FRAME
    frames = samples[: count * FRAME].reshape(count, FRAME).astype(np.float64)
    return np.sqrt((frames**2).mean(axis=1)) if count else np.zeros(0)


def has_voice(samples: np.ndarray, loudest: float) -> bool:
    """Whether int16-scaled `samples` hold a voice, given the utterance's loudest frame:
    `VOICE_FRAMES` frames in a row above the level `SpeechEnergy` calls voice and well above
    the line's noise (its quietest frames here: a turn ends in silence)."""
    levels = frame_levels(samples)
    if levels.size == 0:
        return False
    noise = float(np.percentile(levels, NOISE_PERCENTILE))
    level = max(FLOOR_RMS, RELATIVE * loudest, NOISE_FACTOR * noise)
    loud = np.concatenate([[0], (levels > level).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(loud))
    return bool(((edges[1::2] - edges[::2]) >= VOICE_FRAMES).any())
