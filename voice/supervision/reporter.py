"""Keeps a live call's row current while the call runs (the live console reads it).

It listens to the call's events as the session records them (already masked): what the caller
wants (`understood`: intent and values, and the question the agent left open, read from the
dialogue state), how they sound (`sentiment`), turns; and it looks at whether the agent is
speaking a few times a second. Each change is one small write through the store writer, after
the call's own rows and never on the event loop: a slow database delays the console, not the
call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from voice.logs import get_logger
from voice.store.live import end_live_call, open_live_call, update_live_call
from voice.store.writer import get_writer

log = get_logger(__name__)

SPEAKING_POLL_S = 0.2


class LiveReporter:
    """One per call on this worker. `call` is the `voice.call.phone.PhoneCall`."""

    def __init__(self, call: Any, worker: str, worker_name: str) -> None:
        self._call = call
        self._session = call.session
        self._engine = self._session.store.engine
        self._turns = call.dialogue.turns if call.dialogue is not None else None
        self._speaking = ""
        self._caller_turns = 0
        self._task: asyncio.Task | None = None
        customer = self._turns.state.customer if self._turns is not None else None
        self._write(
            open_live_call,
            caller=self._session.caller,
            worker=worker,
            worker_name=worker_name,
            started_at=self._session.recorder.started_at,
            caller_name=customer.name if customer else "",
        )
        self._session.listeners.append(self.on_event)
        self._task = asyncio.get_running_loop().create_task(self._watch_speaking())

    def _write(self, fn: Any, **fields: Any) -> None:
        get_writer().submit(
            self._session.call_sid, fn, self._engine, self._session.call_sid, **fields
        )

    def update(self, **fields: Any) -> None:
        self._write(update_live_call, **fields)

    # -- what happens in the call ----------------------------------------------------------
    def on_event(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "understood":
            self.update(
                intent=str(record.get("intent") or "")[:40],
                facts=record.get("values") or {},
                **self._pending(),
            )
        elif kind == "sentiment":
            self.update(
                sentiment_label=str(record.get("label") or "")[:8],
                sentiment_score=record.get("score"),
                escalation_probability=record.get("escalation_probability"),
            )
        elif kind == "caller_turn":
            self._caller_turns += 1
            self.update(turns=self._caller_turns)
        elif kind == "agent_turn":
            self.update(**self._pending())  # a question asked by a prepared line (greeting)

    def _pending(self) -> dict[str, Any]:
        """The question the agent is waiting on, and the action a yes to it would take."""
        question = self._turns.state.question if self._turns is not None else None
        if question is None:
            return {"pending_question": "", "pending_action": ""}
        action = question.action if question.kind == "confirm" else ""
        return {"pending_question": question.text or question.kind, "pending_action": action or ""}

    def blocked(self, actions: set[str]) -> None:
        self.update(blocked_actions=sorted(actions), **self._pending())

    async def _watch_speaking(self) -> None:
        playback = self._session.playback
        while not self._session.closed:
            speaking = "agent" if playback.agent_speaking else ""
            if speaking != self._speaking:
                self._speaking = speaking
                self.update(speaking=speaking)
            await asyncio.sleep(SPEAKING_POLL_S)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.on_event in self._session.listeners:
            self._session.listeners.remove(self.on_event)
        get_writer().submit(
            self._session.call_sid,
            end_live_call,
            self._engine,
            self._session.call_sid,
            self._session.end_reason or "completed",
        )
