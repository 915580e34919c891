"""Everything one call owns: its recording, its playback state, its row in the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice import metrics
from voice.logs import get_logger
from voice.playback import PlaybackTracker
from voice.privacy import mask_secrets
from voice.recorder import CallRecorder
from voice.repair import worker_id
from voice.store import Store

log = get_logger("voice.call")


class CallSession:
    def __init__(self, call_sid: str, stream_sid: str, caller: str, recordings_dir: Path,
                 store: Store) -> None:
        self.call_sid, self.stream_sid, self.caller = call_sid, stream_sid, caller
        self.store = store
        self.recorder = CallRecorder(recordings_dir, call_sid)
        self.playback = PlaybackTracker(self.recorder.elapsed)
        self.end_reason: str | None = None
        self.escalated = False
        self.closed = False
        self.on_close: list[Callable[[], None]] = []  # e.g. storing the call's outcome
        store.start_call(call_sid, caller, stream_sid, str(self.recorder.wav_path),
                         str(self.recorder.events_path), worker=worker_id())
        self.event("call_start", caller=caller, call_sid=call_sid, stream_sid=stream_sid)

    def elapsed(self) -> float:
        return self.recorder.elapsed()

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = self.recorder.event(kind, **fields)
        if kind.endswith("_error"):
            metrics.ERRORS.labels(kind=kind).inc()
        elif kind == "barge_in":
            metrics.BARGE_INS.inc()
        log.info(kind, **{k: v for k, v in record.items() if k not in ("type", "time")})
        return record

    def caller_turn(self, text: str, start_s: float, end_s: float, language: str,
                    **extra: Any) -> None:
        text = mask_secrets(text)  # stored and logged; the raw words only reach the agent
        self.event("caller_turn", text=text, start=round(start_s, 3), end=round(end_s, 3),
                   language=language, **extra)
        self.store.add_turn(self.call_sid, "caller", text, start_s, end_s, language=language)

    def agent_turn(self, text: str, start_s: float, end_s: float, latency_ms: float | None,
                   interrupted: bool, **extra: Any) -> None:
        self.event("agent_turn", text=text, start=round(start_s, 3), end=round(end_s, 3),
                   latency_ms=latency_ms, interrupted=interrupted, **extra)
        self.store.add_turn(self.call_sid, "agent", text, start_s, end_s, latency_ms=latency_ms,
                            interrupted=interrupted)
        metrics.observe_turn(latency_ms, extra.get("stages_ms") or {})

    def on_clear_sent(self) -> None:
        """A `clear` went to Twilio: nothing queued will reach the recording."""
        self.recorder.agent_cleared()

    def close(self, reason: str) -> None:
        """Finalise the recording and the call row; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        self.end_reason = self.end_reason or reason
        metrics.CALLS.labels(reason=self.end_reason).inc()
        try:
            self.recorder.close(self.end_reason)
        finally:
            self.store.finish_call(self.call_sid, self.end_reason)
            for callback in self.on_close:
                try:
                    callback()
                except Exception:  # one failing hook must not lose the others
                    log.exception("call close hook failed")
