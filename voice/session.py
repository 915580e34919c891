"""Everything one call owns: its recording, its playback state, its row in the store.

Store writes go through the process-wide store writer: off the event loop, in order, and
retried while the database is locked or down (the JSONL file is written at once, here).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voice import metrics
from voice.logs import get_logger
from voice.pipeline.playback import PlaybackTracker
from voice.store.calls import Store
from voice.store.recorder import CallRecorder
from voice.store.repair import worker_id
from voice.store.writer import get_writer

log = get_logger("voice.call")

# Why a call ended: `CallSession.end(reason)` is the one way to say it, and this is the rule.
# The first reason given wins, except that a decision the agent took about the call replaces a
# way the line went down that was given before it. The line going down often follows the
# decision and can beat it here: a transfer ends the media stream (Twilio's `stop` arrives as
# `caller_hangup`) while the REST request that made it is still being answered.
DECISIONS = frozenset({"transferred", "callback_requested", "silence"})
LINE_ENDS = frozenset({"caller_hangup", "agent_hangup", "connection_lost", "error", "completed"})

CLOSE_FLUSH_S = 5.0  # how long a closed call waits (off the loop) for its rows to land
_settling: set[asyncio.Task] = set()


class CallSession:
    def __init__(
        self, call_sid: str, stream_sid: str, caller: str, recordings_dir: Path, store: Store
    ) -> None:
        self.call_sid, self.stream_sid, self.caller = call_sid, stream_sid, caller
        self.store = store
        self.recorder = CallRecorder(recordings_dir, call_sid)
        self.playback = PlaybackTracker(self.recorder.elapsed)
        self._end_reason: str | None = None
        self.escalated = False
        self.closed = False
        # Run on the store writer after the call row is finished, e.g. storing the outcome.
        self.on_close: list[Callable[[], None]] = []
        # Told every event of the call as it is recorded (masked), e.g. a live view of the call.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.tts_failures_in_a_row = 0  # speech synthesis failing: see voice/pipeline/speaker.py
        self.stored: asyncio.Task | None = None  # after close: True once every row landed
        self.write(
            store.start_call,
            call_sid,
            caller,
            stream_sid,
            str(self.recorder.wav_path),
            str(self.recorder.events_path),
            worker=worker_id(),
            started_at=self.recorder.started_at,
        )
        self.event("call_start", caller=caller, call_sid=call_sid, stream_sid=stream_sid)

    @property
    def end_reason(self) -> str | None:
        return self._end_reason

    def end(self, reason: str) -> str:
        """Say why the call ends (see DECISIONS for which reason wins); returns the reason that
        stands. After `close` the reason is stored and no longer changes."""
        if reason not in DECISIONS | LINE_ENDS:
            raise ValueError(f"unknown end reason {reason!r}: add it to voice/session.py")
        current = self._end_reason
        if not self.closed and (
            current is None or (reason in DECISIONS and current not in DECISIONS)
        ):
            self._end_reason = reason
        return self._end_reason or reason

    def elapsed(self) -> float:
        return self.recorder.elapsed()

    def write(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> None:
        """Queue a store write for this call; it lands after the call's earlier writes."""
        get_writer().submit(self.call_sid, fn, *args, **kwargs)

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = self.recorder.event(kind, **fields)
        if kind.endswith("_error"):
            metrics.ERRORS.labels(kind=kind).inc()
        elif kind == "barge_in":
            metrics.BARGE_INS.inc()
        log.info(kind, **{k: v for k, v in record.items() if k not in ("type", "time")})
        for listener in self.listeners:  # a failing listener never breaks the call
            try:
                listener(record)
            except Exception:
                log.exception("call event listener failed", kind=kind)
        return record

    def caller_turn(
        self, text: str, start_s: float, end_s: float, language: str, **extra: Any
    ) -> None:
        # The event is masked (card numbers, codes, phone numbers): the log line and the row
        # get the masked words; the raw words only reach the agent.
        record = self.event(
            "caller_turn",
            text=text,
            start=round(start_s, 3),
            end=round(end_s, 3),
            language=language,
            **extra,
        )
        self.write(
            self.store.add_turn,
            self.call_sid,
            "caller",
            record["text"],
            start_s,
            end_s,
            language=language,
        )

    def agent_turn(
        self,
        text: str,
        start_s: float,
        end_s: float,
        latency_ms: float | None,
        interrupted: bool,
        **extra: Any,
    ) -> None:
        record = self.event(  # masked: a number the agent read back is not kept in full
            "agent_turn",
            text=text,
            start=round(start_s, 3),
            end=round(end_s, 3),
            latency_ms=latency_ms,
            interrupted=interrupted,
            **extra,
        )
        self.write(
            self.store.add_turn,
            self.call_sid,
            "agent",
            record["text"],
            start_s,
            end_s,
            latency_ms=latency_ms,
            interrupted=interrupted,
            supervisor=str(extra.get("supervisor") or ""),  # a manager's words, said by the agent
        )
        metrics.observe_turn(latency_ms, extra.get("stages_ms") or {})

    def on_clear_sent(self) -> None:
        """A `clear` went to Twilio: nothing queued will reach the recording."""
        self.recorder.agent_cleared()

    def close(self, reason: str) -> None:
        """Finalise the recording and queue the call row's last writes; safe to call more than
        once. Never blocks: on an event loop, `stored` then waits for the rows (bounded)."""
        if self.closed:
            return
        reason = self.end(reason)
        self.closed = True
        metrics.CALLS.labels(reason=reason).inc()
        try:
            self.recorder.close(reason)
        finally:
            self.write(self.store.finish_call, self.call_sid, reason, ended_at=datetime.now(UTC))
            for callback in self.on_close:  # one failing hook does not stop the others
                self.write(callback)
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop to keep free: wait here
                self._report_stored(get_writer().flush(self.call_sid, CLOSE_FLUSH_S))
            else:
                self.stored = asyncio.create_task(self._wait_stored())
                _settling.add(self.stored)  # held until done
                self.stored.add_done_callback(_settling.discard)

    async def _wait_stored(self) -> bool:
        """Poll (no thread held) until the writer has landed this call's rows, or time is up."""
        writer, deadline = get_writer(), time.monotonic() + CLOSE_FLUSH_S
        while writer.pending(self.call_sid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self._report_stored(not writer.pending(self.call_sid))

    def _report_stored(self, landed: bool) -> bool:
        if not landed:
            log.warning(
                "call closed; its store writes are still queued and keep retrying",
                call_sid=self.call_sid,
                pending=get_writer().pending(self.call_sid),
            )
        return landed
