"""Hear the caller, not ourselves: discount caller audio that is the agent's own voice coming
back (a speakerphone, a hands-free car kit, a cheap handset).

Unlike a phone's own echo canceller this one knows exactly what the agent is saying: the TTS
audio going out (`AgentEcho.playing`, fed by `EchoReference` at the end of the pipeline). The
audio is modelled as played from the moment it is handed to the transport, one sentence after
the other, and a `clear` (barge-in) drops what was still to play.

`EchoGate`, first after the transport, looks at each 20 ms of caller audio while the agent's
voice may be coming back (it is talking, or stopped less than `MAX_DELAY_S` ago):

0. Before the echo is located, a frame much quieter than the agent may be its echo and is
   passed quieter (`PRIOR_ECHO_DB`); once the agent has talked for `NO_ECHO_AFTER_S` with no
   echo found, the line has none and frames pass untouched, the caller's soft first sounds too.
1. Where the echo sits: the normalised cross-correlation of the last second of caller audio
   with the agent's audio over lags 0..`MAX_DELAY_S` (network, Twilio's buffer and the room
   together), re-estimated every `ESTIMATE_EVERY_S`; trusted only above `MIN_CORRELATION`, so
   a caller talking over the agent (double talk) does not move it.
2. How loud it is: the least-squares gain of the agent's (phone-band) audio at that lag.
3. Each frame: the predicted echo is subtracted. A frame that the echo explains (what is left
   is under `RESIDUAL_RATIO` of it, or the frame is within 3 dB of the predicted echo, for
   when the subtraction is imperfect) is the agent's own voice: it is passed on `SUPPRESS_DB`
   quieter, so the VAD, the turn end, the barge-in and the transcriber all hear silence.
   A frame with more in it than the echo (the caller talking) passes, echo subtracted.

With no agent audio in the window, frames pass untouched: clean calls cost nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import soxr
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from scipy import signal

from voice.session import CallSession

RATE = 16000
MAX_DELAY_S = 0.8  # echo delay searched: room (<= 0.3 s) + network + Twilio's buffer
WINDOW_S = 1.0  # caller audio correlated with the agent's to find the delay
ESTIMATE_EVERY_S = 0.25
MIN_CORRELATION = 0.5  # below this the window is not (mostly) our echo: keep the last estimate
ESTIMATE_TTL_S = 5.0  # an estimate not confirmed for this long is dropped (the path moved)
MIN_HISTORY_S = 0.2  # caller audio needed for a first estimate
PRIOR_ECHO_DB = 10.0  # before any estimate: the echo is at least this far below the agent
# By then an echo would have been located (its longest delay, a first window, one more try):
# with none found, nothing of ours is coming back and the caller's softer sounds pass.
NO_ECHO_AFTER_S = MAX_DELAY_S + MIN_HISTORY_S + ESTIMATE_EVERY_S
RESIDUAL_RATIO = 0.3  # left after subtracting the echo, relative to the frame: echo only
ECHO_MARGIN = 2.0  # a frame no louder than this times the predicted echo (3 dB) is echo only
SUPPRESS_DB = 30.0
KEEP_S = 40.0  # agent audio kept (sentences are queued ahead of playout)
PHONE_BAND_HZ = (300.0, 3400.0)


class AgentEcho:
    """What the agent plays, on the wall clock, band-limited as a phone line carries it."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self._segments: deque[tuple[int, np.ndarray]] = deque()  # (first sample, samples)
        self._end = 0  # the sample after the last one queued
        self._sos = signal.butter(4, PHONE_BAND_HZ, "bandpass", fs=RATE, output="sos")

    def now_sample(self) -> int:
        return int((self._clock() - self._t0) * RATE)

    def sample_at(self, t: float) -> int:
        return int((t - self._t0) * RATE)

    def playing(self, pcm: bytes, sample_rate: int) -> None:
        """The agent's audio goes out now, after whatever is still queued."""
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        if sample_rate != RATE:
            audio = soxr.resample(audio, sample_rate, RATE)
        # Filtered in float64, kept in float32: 40 s per call, and span() reads it back as float64.
        audio = signal.sosfilt(self._sos, audio.astype(np.float64)).astype(np.float32)
        start = max(self.now_sample(), self._end)
        self._segments.append((start, audio))
        self._end = start + len(audio)
        while self._segments and sum(len(a) for _, a in self._segments) > KEEP_S * RATE:
            self._segments.popleft()

    def cleared(self) -> None:
        """A barge-in: Twilio dropped everything not yet played."""
        now = self.now_sample()
        kept: deque[tuple[int, np.ndarray]] = deque()
        for start, audio in self._segments:
            if start < now:
                kept.append((start, audio[: now - start]))
        self._segments, self._end = kept, min(self._end, now)

    def audible_since(self, sample: int) -> bool:
        """Whether any agent audio plays between `sample` and now."""
        now = self.now_sample()
        return any(s < now and s + len(a) > sample for s, a in self._segments)

    def span(self, lo: int, hi: int) -> np.ndarray:
        """The agent's audio from sample `lo` to `hi` (zeros where it was silent)."""
        out = np.zeros(max(0, hi - lo))
        for start, audio in self._segments:
            a, b = max(lo, start), min(hi, start + len(audio))
            if a < b:
                out[a - lo : b - lo] = audio[a - start : b - start]
        return out


@dataclass
class EchoEstimate:
    delay: int  # samples from the agent's audio to its echo in the caller's
    gain: float
    correlation: float
    at: float  # when it was last confirmed (clock)


def estimate(caller: np.ndarray, agent: np.ndarray, max_lag: int) -> EchoEstimate | None:
    """The lag (0..max_lag) at which `caller` best matches `agent`, where `agent` starts
    `max_lag` samples before `caller` and is as long as both together.

    Normalised cross-correlation by FFT; the normalisation uses the agent's energy in each
    lag's window (a cumulative sum), so a loud stretch of the agent's audio does not win.
    """
    n = len(caller)
    if n == 0 or float(caller @ caller) <= 0:
        return None
    size = 1 << int(np.ceil(np.log2(len(agent) + n)))
    corr = np.fft.irfft(np.fft.rfft(agent, size) * np.conj(np.fft.rfft(caller, size)), size)
    # corr[k] = sum_i agent[i + k] * caller[i]; the echo at lag L sits at k = max_lag - L.
    energy = np.concatenate([[0.0], np.cumsum(agent**2)])
    ks = np.arange(max_lag + 1)
    window = energy[ks + n] - energy[ks]
    ncc = corr[: max_lag + 1] / np.sqrt(np.maximum(window, 1e-9) * float(caller @ caller))
    k = int(np.argmax(ncc))
    if window[k] <= 1e-9:
        return None
    gain = float(corr[k] / window[k])
    return EchoEstimate(max_lag - k, gain, float(ncc[k]), 0.0)


class EchoGate(FrameProcessor):
    """Discounts caller audio that is the agent's own echo (see the module doc)."""

    def __init__(self, session: CallSession, echo: AgentEcho, clock=time.monotonic, **kwargs):
        super().__init__(**kwargs)
        self._session, self._echo, self._clock = session, echo, clock
        self._anchor: float | None = None  # clock time of the caller's sample 0
        self._received = 0
        self._history: deque[np.ndarray] = deque()  # the caller's last WINDOW_S
        self._held = 0
        self._estimate: EchoEstimate | None = None
        self._next_estimate = 0
        self._agent_from: int | None = None  # where this stretch of the agent's voice began
        self._echo_seen = False  # an echo was located in this stretch
        self.suppressed_frames = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and frame.sample_rate == RATE:
            frame = self._gate(frame)
        await self.push_frame(frame, direction)

    def _gate(self, frame: InputAudioRawFrame) -> InputAudioRawFrame:
        x = np.frombuffer(frame.audio, dtype=np.int16).astype(np.float64)
        end = self._place(len(x))
        self._remember(x)
        start = end - len(x)
        max_lag = int(MAX_DELAY_S * RATE)
        if not self._echo.audible_since(start - max_lag):
            # The agent is quiet: nothing of ours can be coming back. Its next words are
            # timed anew (a reply starts when it is ready), so the echo is located anew.
            self._estimate, self._agent_from, self._echo_seen = None, None, False
            return frame
        if self._agent_from is None:
            self._agent_from = start
        self._refresh(end, max_lag)
        est = self._estimate
        if est is None:
            if not self._echo_seen and start - self._agent_from >= NO_ECHO_AFTER_S * RATE:
                return frame  # no echo on this line: the prior below would only mute the caller
            return self._before_estimate(frame, x, start, end, max_lag)
        predicted = est.gain * self._echo.span(start - est.delay, end - est.delay)
        residual = x - predicted
        left, heard = float(residual @ residual), float(x @ x)
        expected = float(predicted @ predicted)
        if heard <= 0:
            return frame
        if left < RESIDUAL_RATIO * heard or heard < ECHO_MARGIN * expected:
            out = x * 10 ** (-SUPPRESS_DB / 20)
            self.suppressed_frames += 1
        else:  # the caller (or the room) is there too; never make a frame louder
            out = residual if left < heard else x
        pcm = np.clip(np.round(out), -32768, 32767).astype(np.int16).tobytes()
        return InputAudioRawFrame(audio=pcm, sample_rate=frame.sample_rate, num_channels=1)

    def _before_estimate(
        self, frame: InputAudioRawFrame, x: np.ndarray, start: int, end: int, max_lag: int
    ) -> InputAudioRawFrame:
        """The first moments of the agent's voice, before the echo is located: a frame
        quieter than the agent's loudest recent frame less PRIOR_ECHO_DB may be the echo."""
        agent = self._echo.span(start - max_lag, end)
        frames = agent[: len(agent) // len(x) * len(x)].reshape(-1, len(x))
        loudest = float((frames**2).sum(axis=1).max()) if frames.size else 0.0
        if float(x @ x) >= loudest * 10 ** (-PRIOR_ECHO_DB / 10):
            return frame
        self.suppressed_frames += 1
        out = np.round(x * 10 ** (-SUPPRESS_DB / 20)).astype(np.int16).tobytes()
        return InputAudioRawFrame(audio=out, sample_rate=frame.sample_rate, num_channels=1)

    def _place(self, n: int) -> int:
        """The caller's sample index of this frame's end, on the agent's clock. Frames come
        paced but late now and then: the earliest arrival fixes where sample 0 was."""
        self._received += n
        now = self._clock()
        anchor = now - self._received / RATE
        self._anchor = anchor if self._anchor is None else min(self._anchor, anchor)
        return self._echo.sample_at(self._anchor) + self._received

    def _remember(self, x: np.ndarray) -> None:
        self._history.append(x)
        self._held += len(x)
        while self._held - len(self._history[0]) >= WINDOW_S * RATE:
            self._held -= len(self._history.popleft())

    def _refresh(self, end: int, max_lag: int) -> None:
        now = self._clock()
        if self._estimate is not None and now - self._estimate.at > ESTIMATE_TTL_S:
            self._estimate = None
        if end < self._next_estimate or self._held < MIN_HISTORY_S * RATE:
            return
        self._next_estimate = end + int(ESTIMATE_EVERY_S * RATE)
        caller = np.concatenate(self._history)
        agent = self._echo.span(end - len(caller) - max_lag, end)
        found = estimate(caller, agent, max_lag)
        if found is not None and found.correlation >= MIN_CORRELATION and found.gain > 0:
            found.at = now
            self._estimate, self._echo_seen = found, True


class EchoReference(FrameProcessor):
    """Last before the transport: tells `AgentEcho` what the agent plays, and when a barge-in
    cleared it."""

    def __init__(self, echo: AgentEcho, **kwargs) -> None:
        super().__init__(**kwargs)
        self._echo = echo

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self._echo.playing(frame.audio, frame.sample_rate)
        elif isinstance(frame, InterruptionFrame):
            self._echo.cleared()
        await self.push_frame(frame, direction)
