"""Write a call to disk as it happens: a stereo WAV (caller left, agent right) and a JSONL log.

Audio is placed on one timeline: caller audio at Twilio's media timestamps, agent audio
where Twilio's playout buffer plays it (after whatever was queued before it). Agent audio
is only committed once its playout time has passed, so audio dropped by a `clear` never
lands in the file. The WAV header is rewritten on every flush, so a killed process leaves a
readable file missing at most the last `FLUSH_LAG_S + FLUSH_EVERY_S` seconds.
"""

from __future__ import annotations

import json
import math
import time
import wave
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voice.privacy import mask_value

RATE = 8000
FLUSH_EVERY_S = 0.25
FLUSH_LAG_S = 0.3  # late caller frames (network jitter) still find their place
# A caller frame's own timestamp is believed within this much of the call's clock: it places
# the audio, and so sizes the buffer (one frame stamped 20000000 ms once took 305 MB).
MAX_SKEW_S = 5.0


class _Track:
    """Pending int16 samples of one channel, starting at the recorder's flushed position."""

    def __init__(self) -> None:
        self.pending = np.zeros(0, dtype=np.int16)

    def place(self, offset: int, samples: np.ndarray) -> None:
        if offset < 0:  # arrived after its place was written: keep what is still ahead
            samples, offset = samples[-offset:], 0
        end = offset + len(samples)
        if end > len(self.pending):
            self.pending = np.concatenate(
                [self.pending, np.zeros(end - len(self.pending), dtype=np.int16)]
            )
        self.pending[offset:end] = samples

    def take(self, count: int) -> np.ndarray:
        out = np.zeros(count, dtype=np.int16)
        have = min(count, len(self.pending))
        out[:have] = self.pending[:have]
        self.pending = self.pending[count:] if len(self.pending) > count else self.pending[:0]
        return out

    def truncate(self, length: int) -> None:
        self.pending = self.pending[: max(0, length)]


_IDS = frozenset({"call_sid", "stream_sid"})  # ids, never numbers to mask


def recording_paths(recordings_dir: Path, call_sid: str, day: datetime) -> tuple[Path, Path]:
    folder = recordings_dir / day.strftime("%Y-%m-%d")
    return folder / f"{call_sid}.wav", folder / f"{call_sid}.jsonl"


class CallRecorder:
    def __init__(self, recordings_dir: Path, call_sid: str) -> None:
        self.started_at = datetime.now(UTC)
        self.wav_path, self.events_path = recording_paths(recordings_dir, call_sid, self.started_at)
        self.wav_path.parent.mkdir(parents=True, exist_ok=True)
        self._t0 = time.monotonic()
        self._wav_file = self.wav_path.open("wb")
        self._wav = wave.open(self._wav_file, "wb")  # noqa: SIM115 - open for the whole call
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(RATE)
        self._wav.writeframes(b"")  # header on disk from the first instant
        self._events = self.events_path.open("a", encoding="utf-8", buffering=1)
        self._caller, self._agent = _Track(), _Track()
        self._flushed = 0  # samples already in the WAV
        self._agent_end = 0  # where the next agent audio will play (absolute sample index)
        self._last_flush = 0.0
        self.closed = False
        # Given each block of stereo PCM as it is written (live listen-in); must not block.
        self.taps: list[Callable[[bytes], None]] = []

    # -- timeline ------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _now_sample(self) -> int:
        return int(self.elapsed() * RATE)

    # -- audio in ------------------------------------------------------------------------
    def caller_audio(self, pcm: bytes, timestamp_ms: float | None = None) -> None:
        if self.closed:
            return
        at = self._place_of(timestamp_ms)
        self._caller.place(at - self._flushed, np.frombuffer(pcm, dtype=np.int16))
        self._maybe_flush()

    def _place_of(self, timestamp_ms: float | None) -> int:
        """The sample a caller frame goes to: its timestamp, clamped to MAX_SKEW_S around our
        own clock; our clock alone when it has none or it is not a finite number."""
        now_s = self.elapsed()
        if timestamp_ms is None or not math.isfinite(timestamp_ms):
            return int(now_s * RATE)
        seconds = min(max(timestamp_ms / 1000, now_s - MAX_SKEW_S), now_s + MAX_SKEW_S)
        return max(0, int(seconds * RATE))

    def agent_audio(self, pcm: bytes) -> None:
        if self.closed:
            return
        samples = np.frombuffer(pcm, dtype=np.int16)
        at = max(self._now_sample(), self._agent_end, self._flushed)
        self._agent.place(at - self._flushed, samples)
        self._agent_end = at + len(samples)
        self._maybe_flush()

    def agent_cleared(self) -> None:
        """A `clear` dropped everything not yet played: forget it."""
        now = max(self._now_sample(), self._flushed)
        self._agent.truncate(now - self._flushed)
        self._agent_end = now

    # -- events --------------------------------------------------------------------------
    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one event to the JSONL and return it. Every string in it is masked here
        (voice/privacy.py): the session logs and stores the record this returns, so card
        numbers, codes and phone numbers reach neither the file, the log nor the database."""
        record = {
            "type": kind,
            "t": round(self.elapsed(), 3),
            "time": datetime.now(UTC).isoformat(),
            **mask_value(fields, keep=_IDS.__contains__),
        }
        if not self.closed:
            self._events.write(json.dumps(record, ensure_ascii=False) + "\n")
        return record

    # -- disk ----------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if self.elapsed() - self._last_flush >= FLUSH_EVERY_S:
            self.flush(self._now_sample() - int(FLUSH_LAG_S * RATE))

    def flush(self, upto: int) -> None:
        count = upto - self._flushed
        self._last_flush = self.elapsed()
        if count <= 0:
            return
        frames = np.empty(count * 2, dtype=np.int16)
        frames[0::2] = self._caller.take(count)
        frames[1::2] = self._agent.take(count)
        block = frames.tobytes()
        self._wav.writeframes(block)  # also rewrites the header's sizes
        self._wav_file.flush()
        self._flushed = upto
        for tap in self.taps:
            try:
                tap(block)
            except Exception:  # a listener's trouble never costs the recording
                continue

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.flush(max(self._now_sample(), self._flushed + len(self._caller.pending)))
        self.event("call_end", reason=reason, duration_s=round(self.elapsed(), 3))
        self.closed = True
        self._wav.close()
        self._wav_file.close()
        self._events.close()
