"""What a noisy line or a speakerphone does to the caller's audio, for the simulator.

A `PhoneLine` is applied by the simulator to every 20 ms caller frame before it is mu-law
encoded, the way a phone's microphone picks up more than the caller:

* a noise bed (a WAV of noise alone, looped), heard the whole call, also while the agent talks;
* the agent's own voice coming back (`EchoPath`): the audio the simulated phone is playing
  at that moment, delayed, attenuated and band-limited to the phone band (300-3400 Hz), as
  from a speakerphone. The echo is of what is actually played, so a `clear` stops it too.

The simulator's own mu-law encoding then quantises the mix, as the phone network would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

RATE = 8000
FRAME = 160
PHONE_BAND_HZ = (300.0, 3400.0)


@dataclass
class EchoPath:
    """The agent's voice as it comes back through a speakerphone."""

    delay_ms: float = 150.0
    attenuation_db: float = 20.0
    band_hz: tuple[float, float] = PHONE_BAND_HZ

    def __post_init__(self) -> None:
        self._sos = signal.butter(4, self.band_hz, "bandpass", fs=RATE, output="sos")
        self._state = signal.sosfilt_zi(self._sos) * 0.0
        self._gain = 10 ** (-self.attenuation_db / 20)
        delay = round(self.delay_ms * RATE / 1000)
        self._line = np.zeros(delay, dtype=np.float64)  # what is on its way back

    def frame(self, played: np.ndarray) -> np.ndarray:
        """The echo heard during this frame, given the agent audio played during it."""
        filtered, self._state = signal.sosfilt(
            self._sos, played.astype(np.float64) * self._gain, zi=self._state
        )
        self._line = np.concatenate([self._line, filtered])
        out, self._line = self._line[: len(played)], self._line[len(played) :]
        return out


@dataclass
class PhoneLine:
    """Noise and echo added to each caller frame. Both optional; `seed` picks the bed's start."""

    noise: np.ndarray | None = None  # int16-scaled float at 8 kHz, looped
    echo: EchoPath | None = None
    seed: int = 0
    _at: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.noise is not None and self.noise.size:
            self._at = int(np.random.default_rng(self.seed).integers(self.noise.size))

    @classmethod
    def from_files(
        cls, noise: str | Path | None = None, echo: EchoPath | None = None, seed: int = 0
    ) -> PhoneLine:
        return cls(noise=load_bed(noise) if noise else None, echo=echo, seed=seed)

    def caller_frame(self, caller: np.ndarray, played: np.ndarray) -> np.ndarray:
        """The frame the phone sends: the caller, plus the room, plus the agent coming back."""
        mix = caller.astype(np.float64)
        if self.noise is not None and self.noise.size:
            mix = mix + self._noise(len(caller))
        if self.echo is not None:
            mix = mix + self.echo.frame(played)
        return np.clip(np.round(mix), -32768, 32767).astype(np.int16)

    def _noise(self, n: int) -> np.ndarray:
        noise = self.noise
        assert noise is not None  # only called when the line has a noise bed
        idx = (self._at + np.arange(n)) % noise.size
        self._at = (self._at + n) % noise.size
        return noise[idx]


def load_bed(path: str | Path) -> np.ndarray:
    """A noise WAV as int16-scaled float samples at 8 kHz."""
    audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE, quality="HQ")
    return mono * 32767.0
