"""Twilio's 8 kHz caller audio up to the pipeline's rate, one 20 ms frame in, one frame out.

pipecat's Twilio serializer resamples with a soxr stream at its "very high quality" setting,
which holds audio back and lets it out in blocks: 20 ms frames went in, a 95 ms frame came out
every fifth one, so the VAD, the turn end and the barge-in heard the caller up to 95 ms late
(docs/benchmarks.md, issue 16). Telephone audio needs no such filter: it carries nothing
above 3.4 kHz. This one is a windowed-sinc interpolator (Kaiser window) with `HALF_TAPS`
input samples each side of every output sample, so it delays the audio by `HALF_TAPS` input
samples (4 ms at 8 kHz); every frame comes out at once. Its cut-off sits below 4 kHz, where
the copy of the voice band that upsampling makes begins: a first version cut at 4 kHz let
that copy through from 4.0 to 4.5 kHz, and Whisper then heard the sample caller's "four five
two one" as "four times two one" (tests/test_upsampler.py).
"""

from __future__ import annotations

import numpy as np

HALF_TAPS = 32  # input samples on each side of an output sample; the delay, in input samples
KAISER_BETA = 8.0
CUTOFF = 0.95  # of the input's Nyquist rate (3.8 kHz at 8 kHz): -1.8 dB at 3.7 kHz, -63 at 4.1


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
    """One low-pass filter (cut-off `CUTOFF`) per output phase, each with unity gain at DC."""
    j = np.arange(2 * HALF_TAPS)
    filters = []
    for phase in range(factor):
        distance = HALF_TAPS - 1 - j + phase / factor  # from each input sample to the output
        window = np.i0(KAISER_BETA * np.sqrt(np.clip(1 - (distance / HALF_TAPS) ** 2, 0, 1)))
        taps = np.sinc(CUTOFF * distance) * window
        filters.append(taps / taps.sum())
    return filters
