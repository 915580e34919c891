"""Supervisor actions: the call's record of what managers did, and the holding worker's queue.

A manager's command for a live call (say a sentence, block an action, take over, end) is a
`supervisor_actions` row in state `queued`, addressed to the worker the call's live row names;
that worker claims it (`taken`, atomically: one worker, once), carries it out and records the
result (`done` or `failed`). What needs no worker (listening, calling back) is stored `logged`.
Every row carries the manager's name and the time, and the call page shows them afterwards.

Refusals are checked in the same transaction as the insert: a call that is not live (ended, or
never seen) takes no command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from voice import metrics
from voice.privacy import mask_text
from voice.store.rows import rows_changed
from voice.store.schema import LiveCall, SupervisorAction
from voice.store.signals import COMMAND_CHANNEL, notify

COMMANDS = frozenset({"say", "block", "take_over", "end"})  # carried out by the holding worker
EVENTS = frozenset({"listen", "call_back", "callback_result", "callback_done"})  # as they happen
MAX_SAY_CHARS = 300  # one or two sentences: what a supervisor types for the agent to say
MAX_TEXT_CHARS = 2000


class ActionRefused(ValueError):
    """Why a command cannot be queued (said to the manager as it is): the call is not live."""


class CommandInvalid(ActionRefused):
    """The command itself is wrong (unknown, empty, too long), whatever the call."""


@dataclass(frozen=True)
class Command:
    id: int
    call_sid: str
    manager: str
    kind: str
    text: str  # as typed: what the caller must hear exactly


@dataclass(frozen=True)
class ActionView:
    id: int
    call_sid: str
    manager: str
    kind: str
    text: str  # masked
    state: str
    result: str
    created_at: datetime
    done_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "manager": self.manager,
            "kind": self.kind,
            "text": self.text,
            "state": self.state,
            "result": self.result,
            "at": self.created_at.isoformat(),
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_command(kind: str, text: str) -> str:
    """The command's text, cleaned; ActionRefused when it cannot be sent as it is."""
    if kind not in COMMANDS:
        raise CommandInvalid(f"unknown command {kind!r}")
    text = " ".join((text or "").split())
    if kind == "say":
        if not text:
            raise CommandInvalid("type the sentence the agent should say")
        if len(text) > MAX_SAY_CHARS:
            raise CommandInvalid(
                f"a sentence to say is at most {MAX_SAY_CHARS} characters ({len(text)} typed)"
            )
    if kind == "block" and not text:
        raise CommandInvalid("name the action the agent must not take")
    return text[:MAX_TEXT_CHARS]


def queue_command(engine: Engine, call_sid: str, manager: str, kind: str, text: str = "") -> int:
    """Queue a command for the worker holding the live call; returns its id."""
    text = check_command(kind, text)
    with Session(engine) as db, db.begin():
        live = db.get(LiveCall, call_sid)
        if live is None or live.status != "live":
            raise ActionRefused("this call has ended; it can no longer be steered")
        row = SupervisorAction(
            call_sid=call_sid,
            manager=manager,
            kind=kind,
            text=text,
            state="queued",
            worker=live.worker,
            created_at=_now(),
        )
        db.add(row)
        db.flush()
        notify(db, COMMAND_CHANNEL, call_sid)
        action_id = row.id
    metrics.SUPERVISOR_ACTIONS.labels(kind=kind).inc()
    return action_id


def log_action(
    engine: Engine, call_sid: str, manager: str, kind: str, text: str = "", result: str = ""
) -> int:
    """Store an action that needs no worker (listen, call back) as the call's event."""
    if kind not in EVENTS:
        raise ValueError(f"not an event kind: {kind!r}")
    now = _now()
    with Session(engine) as db, db.begin():
        row = SupervisorAction(
            call_sid=call_sid,
            manager=manager,
            kind=kind,
            text=mask_text(text)[:MAX_TEXT_CHARS],
            state="logged",
            result=mask_text(result)[:MAX_TEXT_CHARS],
            created_at=now,
            done_at=now,
        )
        db.add(row)
        db.flush()
        action_id = row.id
    metrics.SUPERVISOR_ACTIONS.labels(kind=kind).inc()
    return action_id


def take_commands(engine: Engine, worker: str, call_sids: list[str]) -> list[Command]:
    """Claim the queued commands for these calls of ours, oldest first; each is claimed by one
    worker once (the UPDATE's state check is the lock)."""
    if not call_sids:
        return []
    taken = []
    with Session(engine) as db, db.begin():
        rows = db.scalars(
            select(SupervisorAction)
            .where(SupervisorAction.state == "queued", SupervisorAction.call_sid.in_(call_sids))
            .order_by(SupervisorAction.id)
        ).all()
        for row in rows:
            claimed = db.execute(
                update(SupervisorAction)
                .where(SupervisorAction.id == row.id, SupervisorAction.state == "queued")
                .values(state="taken", worker=worker)
            )
            if rows_changed(claimed) == 1:
                taken.append(Command(row.id, row.call_sid, row.manager, row.kind, row.text))
    return taken


def finish_command(engine: Engine, action_id: int, ok: bool, result: str = "") -> None:
    """Record how a command went. Its text is masked now that it has been used: a number the
    manager typed for the caller to hear is not kept in full."""
    with Session(engine) as db, db.begin():
        row = db.get(SupervisorAction, action_id)
        if row is None:
            return
        row.state = "done" if ok else "failed"
        row.result = mask_text(result)[:MAX_TEXT_CHARS]
        row.text = mask_text(row.text)
        row.done_at = _now()


def actions_for(engine: Engine, call_sid: str) -> list[ActionView]:
    """Every supervisor action on a call, in order (masked)."""
    with Session(engine) as db:
        rows = db.scalars(
            select(SupervisorAction)
            .where(SupervisorAction.call_sid == call_sid)
            .order_by(SupervisorAction.id)
        )
        return [
            ActionView(
                row.id,
                row.call_sid,
                row.manager,
                row.kind,
                mask_text(row.text),
                row.state,
                mask_text(row.result),
                _utc(row.created_at) or _now(),
                _utc(row.done_at),
            )
            for row in rows
        ]
