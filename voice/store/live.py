"""Live calls in the database: written by the worker holding each call, read by every worker.

The worker holding a call keeps its `live_calls` row current (voice/supervision/reporter.py,
through the store writer, so the call never waits for the database); the live pages of any
worker read the rows. Each write bumps `version` and, on PostgreSQL, sends a NOTIFY on
`LIVE_CHANNEL` in the same transaction (voice/store/signals.py), so pages update at once; on
SQLite they poll the same rows.

Nothing stored here is unmasked: the caller's number is masked before it is written, and
every text and value goes through voice/privacy.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from voice.privacy import mask_phone, mask_text, mask_value
from voice.store.rows import rows_changed
from voice.store.schema import LiveCall, SupervisorAction, Turn
from voice.store.signals import LIVE_CHANNEL, notify

ENDED_SHOWN = timedelta(minutes=2)  # an ended call stays readable this long (it leaves lists)
KEEP_ENDED = timedelta(hours=1)  # then its row is swept

# What a worker may set on its call's row (the rest is the row's own bookkeeping).
FIELDS = frozenset(
    {
        "caller_name",
        "intent",
        "facts",
        "pending_question",
        "pending_action",
        "blocked_actions",
        "sentiment_label",
        "sentiment_score",
        "escalation_probability",
        "speaking",
        "turns",
    }
)


@dataclass(frozen=True)
class LiveView:
    """One live call as the pages show it (masked)."""

    call_sid: str
    worker: str
    worker_name: str
    caller: str
    caller_name: str
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    status: str
    end_reason: str
    intent: str
    facts: dict[str, Any]
    pending_question: str
    pending_action: str
    blocked_actions: list[str]
    sentiment_label: str
    sentiment_score: float | None
    escalation_probability: float | None
    speaking: str
    turns: int
    version: int

    @property
    def live(self) -> bool:
        return self.status == "live"

    def as_json(self) -> dict[str, Any]:
        return {
            "sid": self.call_sid,
            "worker": self.worker_name or self.worker,
            "caller": self.caller,
            "name": self.caller_name,
            "started": self.started_at.isoformat(),
            "ended": self.ended_at.isoformat() if self.ended_at else None,
            "status": self.status,
            "endReason": self.end_reason,
            "intent": self.intent,
            "facts": self.facts,
            "question": self.pending_question,
            "action": self.pending_action,
            "blocked": self.blocked_actions,
            "label": self.sentiment_label,
            "score": self.sentiment_score,
            "p": self.escalation_probability,
            "speaking": self.speaking,
            "turns": self.turns,
            "version": self.version,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored here is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"not a live call field: {', '.join(sorted(unknown))}")
    cleaned = dict(fields)
    for name in ("pending_question", "caller_name"):
        if name in cleaned:
            cleaned[name] = mask_text(str(cleaned[name] or ""))
    if "facts" in cleaned:
        cleaned["facts"] = mask_value(dict(cleaned["facts"] or {}))
    if "caller_name" in cleaned:
        cleaned["caller_name"] = cleaned["caller_name"][:120]
    return cleaned


def open_live_call(
    engine: Engine,
    call_sid: str,
    *,
    caller: str,
    worker: str,
    worker_name: str = "",
    started_at: datetime | None = None,
    **fields: Any,
) -> None:
    """The call's row, live, owned by `worker` (a row left by an earlier try is replaced).
    `caller` is the raw number: it is masked here, never stored as it is."""
    now = _now()
    with Session(engine) as db, db.begin():
        row = db.get(LiveCall, call_sid) or LiveCall(call_sid=call_sid, version=0)
        row.worker, row.worker_name = worker, worker_name
        row.caller = mask_phone(caller)
        row.started_at = started_at or now
        row.updated_at, row.ended_at, row.status, row.end_reason = now, None, "live", ""
        row.caller_name, row.intent, row.facts = "", "", {}
        row.pending_question, row.pending_action, row.blocked_actions = "", "", []
        row.sentiment_label, row.sentiment_score, row.escalation_probability = "", None, None
        row.speaking, row.turns = "", 0
        for name, value in _clean(fields).items():
            setattr(row, name, value)
        row.version = (row.version or 0) + 1
        db.add(row)
        notify(db, LIVE_CHANNEL, call_sid)


def update_live_call(engine: Engine, call_sid: str, **fields: Any) -> bool:
    """Set some of FIELDS on a live call's row; False when there is no live row (ended)."""
    values = _clean(fields)
    with Session(engine) as db, db.begin():
        result = db.execute(
            update(LiveCall)
            .where(LiveCall.call_sid == call_sid, LiveCall.status == "live")
            .values(**values, updated_at=_now(), version=LiveCall.version + 1)
        )
        if rows_changed(result):
            notify(db, LIVE_CHANNEL, call_sid)
        return bool(rows_changed(result))


def end_live_call(engine: Engine, call_sid: str, reason: str) -> None:
    """The call is over: its row leaves the live lists, and commands still queued for it fail
    (a manager cannot steer a call that has ended)."""
    now = _now()
    with Session(engine) as db, db.begin():
        db.execute(
            update(LiveCall)
            .where(LiveCall.call_sid == call_sid, LiveCall.status == "live")
            .values(
                status="ended",
                end_reason=reason[:32],
                ended_at=now,
                updated_at=now,
                speaking="",
                version=LiveCall.version + 1,
            )
        )
        db.execute(
            update(SupervisorAction)
            .where(
                SupervisorAction.call_sid == call_sid,
                SupervisorAction.state.in_(("queued", "taken")),
            )
            .values(state="failed", result="the call ended first", done_at=now)
        )
        db.execute(delete(LiveCall).where(LiveCall.ended_at < now - KEEP_ENDED))
        notify(db, LIVE_CHANNEL, call_sid)


def end_calls_of_worker(engine: Engine, worker: str, reason: str = "interrupted") -> list[str]:
    """At start-up: rows a previous process of this worker left live are ended."""
    with Session(engine) as db:
        sids = list(
            db.scalars(
                select(LiveCall.call_sid).where(
                    LiveCall.worker == worker, LiveCall.status == "live"
                )
            )
        )
    for sid in sids:
        end_live_call(engine, sid, reason)
    return sids


def _view(row: LiveCall) -> LiveView:
    return LiveView(
        call_sid=row.call_sid,
        worker=row.worker,
        worker_name=row.worker_name,
        caller=row.caller,
        caller_name=row.caller_name,
        started_at=_utc(row.started_at) or _now(),
        updated_at=_utc(row.updated_at) or _now(),
        ended_at=_utc(row.ended_at),
        status=row.status,
        end_reason=row.end_reason,
        intent=row.intent,
        facts=dict(row.facts or {}),
        pending_question=row.pending_question,
        pending_action=row.pending_action,
        blocked_actions=list(row.blocked_actions or []),
        sentiment_label=row.sentiment_label,
        sentiment_score=row.sentiment_score,
        escalation_probability=row.escalation_probability,
        speaking=row.speaking,
        turns=row.turns,
        version=row.version,
    )


def live_calls(engine: Engine, *, ended_within: timedelta = ENDED_SHOWN) -> list[LiveView]:
    """Calls in progress on every worker, newest first, then those that ended lately (so a
    page that saw a call can tell it ended)."""
    since = _now() - ended_within
    with Session(engine) as db:
        rows = db.scalars(
            select(LiveCall)
            .where(or_(LiveCall.status == "live", LiveCall.ended_at >= since))
            .order_by(LiveCall.started_at.desc())
        )
        return [_view(row) for row in rows]


def live_call(engine: Engine, call_sid: str) -> LiveView | None:
    with Session(engine) as db:
        row = db.get(LiveCall, call_sid)
        return _view(row) if row is not None else None


ListToken = tuple[tuple[str, int], ...]
CallToken = tuple[int, tuple[int, int], tuple[tuple[int, str], ...]]


def list_token(engine: Engine, *, ended_within: timedelta = ENDED_SHOWN) -> ListToken:
    """What changes whenever the live list would (one small query, no ORM): pages poll this
    and read the rows only when it moved."""
    since = _now() - ended_within
    with engine.connect() as db:
        rows = db.execute(
            select(LiveCall.call_sid, LiveCall.version).where(
                or_(LiveCall.status == "live", LiveCall.ended_at >= since)
            )
        )
        return tuple(sorted(rows.tuples()))


def call_token(engine: Engine, call_sid: str) -> CallToken | None:
    """What changes whenever a live call's page would: its row's version, its turns and their
    scores, its supervisor actions and their states. None when there is no such live row."""
    with engine.connect() as db:
        version = db.scalar(select(LiveCall.version).where(LiveCall.call_sid == call_sid))
        if version is None:
            return None
        turns = db.execute(
            select(func.count(), func.count(Turn.sentiment_score)).where(Turn.call_sid == call_sid)
        ).one()
        actions = db.execute(
            select(SupervisorAction.id, SupervisorAction.state).where(
                SupervisorAction.call_sid == call_sid
            )
        )
        counted = (int(turns[0]), int(turns[1]))
        return (version, counted, tuple(sorted(actions.tuples())))
