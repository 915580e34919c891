"""The live console's side on the worker holding calls: a `CallWatcher` (voice/call/phone.py).

For each call on this worker it keeps the call's live row current (reporter.py), offers the
call's audio to listeners (listen.py, from the recorder), and carries out the commands
managers queue for it (voice/store/supervision.py): one poll of the command table for all of
this worker's calls, every POLL_S on SQLite, or at once when PostgreSQL's NOTIFY says a
command was queued. Commands for one call run in the order they were given.

- say: the sentence is said at the agent's next moment to speak (responder.supervisor_line),
  in its voice, and logged as an agent turn marked as the manager's.
- block: the action is forbidden for the rest of the call (TurnManager.forbid).
- take_over: the hand-over path (HandoverCoordinator.take_over) to the manager's own number or
  HUMAN_AGENT_NUMBER, with the summary whispered to whoever answers.
- end: a polite goodbye at the next quiet moment, then the agent hangs up.

Every command's outcome is stored on its row (done or failed, and what happened) and in the
call's event log with the manager's name.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from voice.logs import get_logger
from voice.privacy import mask_text
from voice.store.repair import worker_id
from voice.store.signals import COMMAND_CHANNEL, signals_for
from voice.store.supervision import Command, finish_command, take_commands
from voice.supervision.listen import ListenHub
from voice.supervision.reporter import LiveReporter

log = get_logger(__name__)

POLL_S = 0.25  # SQLite: how often this worker looks for commands while it holds calls
SAID_WITHIN_S = 120.0  # a sentence not played by then is reported as not said
ENDING_LINE = "I'm sorry, I have to end our call here. Thank you for calling, goodbye."


@dataclass
class _Held:
    call: Any  # voice.call.phone.PhoneCall
    reporter: LiveReporter
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # the call is over
    tasks: set[asyncio.Task] = field(default_factory=set)


class SupervisorConsole:
    """One per worker; register it with the app's call watchers."""

    def __init__(self, engine: Engine, hub: ListenHub, worker_name: str = "") -> None:
        self.engine, self.hub = engine, hub
        self.worker = worker_id()
        self.worker_name = worker_name or self.worker
        self._held: dict[str, _Held] = {}
        self._poller: asyncio.Task | None = None

    # -- CallWatcher -----------------------------------------------------------------------
    def call_opened(self, call: Any) -> None:
        sid = call.session.call_sid
        reporter = LiveReporter(call, self.worker, self.worker_name)
        self._held[sid] = _Held(call, reporter)
        self.hub.open_call(sid)
        call.session.recorder.taps.append(lambda block: self.hub.publish(sid, block))
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    def call_closed(self, call: Any) -> None:
        held = self._held.pop(call.session.call_sid, None)
        self.hub.close_call(call.session.call_sid)
        if held is not None:
            held.closed.set()  # commands waiting for the agent to speak give up now
            held.reporter.close()  # queued commands for the call fail: it has ended

    # -- commands --------------------------------------------------------------------------
    async def _poll(self) -> None:
        signals = signals_for(self.engine)
        while self._held:
            try:
                taken = await asyncio.to_thread(
                    take_commands, self.engine, self.worker, list(self._held)
                )
            except Exception:
                log.exception("reading supervisor commands failed")
                taken = []
            for command in taken:
                held = self._held.get(command.call_sid)
                if held is None:
                    await asyncio.to_thread(
                        finish_command, self.engine, command.id, False, "the call ended first"
                    )
                    continue
                task = asyncio.get_running_loop().create_task(self._carry_out(held, command))
                held.tasks.add(task)
                task.add_done_callback(held.tasks.discard)
            await signals.wait(COMMAND_CHANNEL, signals.poll_s(POLL_S))

    async def _carry_out(self, held: _Held, command: Command) -> None:
        async with held.lock:  # one call's commands in the order given
            try:
                ok, result = await self._run(held, command)
            except Exception as exc:
                log.exception("supervisor command failed", call_sid=command.call_sid)
                ok, result = False, f"{type(exc).__name__}: {exc}"
        held.call.session.event(
            "supervisor",
            manager=command.manager,
            action=command.kind,
            text=command.text,
            ok=ok,
            result=result,
        )
        await asyncio.to_thread(finish_command, self.engine, command.id, ok, result)

    async def _run(self, held: _Held, command: Command) -> tuple[bool, str]:
        call, kind = held.call, command.kind
        if call.session.closed:
            return False, "the call ended first"
        if kind == "block":
            return self._block(held, command.text)
        responder = call.pipeline.responder if call.pipeline is not None else None
        if responder is None:
            return False, "the call is not speaking yet"
        if kind == "say":
            heard = responder.supervisor_line(command.text, command.manager)
            return await _said(held, heard)
        if kind == "end":
            heard = responder.supervisor_line(ENDING_LINE, command.manager, hang_up=True)
            ok, result = await _said(held, heard)
            return ok, "ended politely" if ok else result
        if kind == "take_over":
            return await self._take_over(held, command, responder)
        return False, f"unknown command {kind!r}"

    async def _take_over(self, held: _Held, command: Command, responder: Any) -> tuple[bool, str]:
        handover = held.call.dialogue.handover.take_over(command.manager, command.text)
        if handover is None:
            return False, "the call is already being handed over"
        moved: asyncio.Future = asyncio.get_running_loop().create_future()

        async def move() -> str | None:  # the hand-over, once its line has been heard
            try:
                last_line = await handover.after()
            except BaseException as exc:
                moved.set_exception(exc)
                raise
            moved.set_result(last_line)
            return last_line

        responder.supervisor_line(handover.say, command.manager, after=move)
        waited = await _outcome(held, moved)
        if waited is None:
            return False, "not handed over: the agent had no moment to speak"
        last_line = waited[0]
        to = "the manager's phone" if command.text else "HUMAN_AGENT_NUMBER"
        if last_line is not None:
            return False, f"the transfer to {to} failed; the caller was promised a call back"
        return True, f"handed over to {to}"

    def _block(self, held: _Held, action: str) -> tuple[bool, str]:
        turns = held.call.dialogue.turns if held.call.dialogue is not None else None
        if turns is None or not turns.forbid(action):
            return False, f"{action!r} is not an action the agent can take"
        held.reporter.blocked(set(turns.state.blocked))
        return True, f"the agent will not {action.replace('_', ' ')} on this call"


async def _outcome(held: _Held, future: asyncio.Future) -> tuple[Any] | None:
    """(the future's result,) once it is there; None when the call ended or SAID_WITHIN_S
    passed first."""
    ended = asyncio.ensure_future(held.closed.wait())
    try:
        await asyncio.wait({future, ended}, timeout=SAID_WITHIN_S, return_when="FIRST_COMPLETED")
    finally:
        ended.cancel()
    return (future.result(),) if future.done() else None


async def _said(held: _Held, heard: asyncio.Future) -> tuple[bool, str]:
    waited = await _outcome(held, heard)
    if waited is None:
        reason = "the call ended first" if held.closed.is_set() else "the agent had no moment"
        return False, f"not said: {reason}"
    text, interrupted = waited[0]
    if interrupted:
        return True, f"said, interrupted by the caller after: {mask_text(text)!r}"
    return True, "said"
