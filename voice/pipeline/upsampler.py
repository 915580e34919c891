"""Twilio's 8 kHz caller audio up to the pipeline's rate, one 20 ms frame in, one frame out.

pipecat's Twilio serializer resamples with a soxr stream at its "very high quality" setting,
which holds audio back and lets it out in blocks: 20 ms frames went in, a 95 ms frame came out
every fifth one, so the VAD, the turn end and the barge-in heard the caller up to 95 ms late
(docs/benchmarks.md, issue 16). Telephone audio needs no such filter: it carries nothing
above 3.4 kHz. This one is a windowed-sinc interpolator (Kaiser window) that keeps the
original samples, fills the new ones from `HALF_TAPS` neighbours each side, and so delays the
audio by `HALF_TAPS` input samples (2 ms at 8 kHz); every frame comes out at once.
"""

from __future__ import annotations

import numpy as np

HALF_TAPS = 16  # input samples on each side of a new sample; the delay, in input samples
KAISER_BETA = 8.0  # images above 4.4 kHz at least ~60 dB down


class Upsampler:
    """16-bit mono PCM at `in_rate` to `factor` times that rate, keeping state between frames."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if out_rate % in_rate:
            raise ValueError(f"{out_rate} Hz is not a whole multiple of {in_rate} Hz")
        self.in_rate, self.out_rate = in_rate, out_rate
        self.factor = out_rate // in_rate
        self._phases = _phase_filters(self.factor)
        self._history = np.zeros(2 * HALF_TAPS - 1, dtype=np.float64)

    def __call__(self, pcm: bytes) -> bytes:
        if self.factor == 1 or not pcm:
            return pcm
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
        window = np.concatenate([self._history, samples])
        self._history = window[len(samples) :]
        out = np.empty((len(samples), self.factor))
        for phase, taps in enumerate(self._phases):
            # out[i, phase] is the sound at window[i + HALF_TAPS - 1] + phase / factor
            out[:, phase] = np.correlate(window, taps, mode="valid")
        return np.clip(np.rint(out.reshape(-1)), -32768, 32767).astype(np.int16).tobytes()


def _phase_filters(factor: int) -> list[np.ndarray]:
    """One filter per output phase; phase 0 is the input sample itself."""
    j = np.arange(2 * HALF_TAPS)
    filters = []
    for phase in range(factor):
        distance = HALF_TAPS - 1 - j + phase / factor  # from each input sample to the output
        window = np.i0(KAISER_BETA * np.sqrt(np.clip(1 - (distance / HALF_TAPS) ** 2, 0, 1)))
        taps = np.sinc(distance) * window / np.i0(KAISER_BETA)
        filters.append(taps / taps.sum())  # unity gain at DC
    return filters
