"""Callback requests: when a hand-over to a person fails, a person rings the caller back.

A manager works the list on /review/callbacks: each "Call back now" is an attempt (the
outbound call Twilio places, telephony/callback_routes.py) whose outcome Twilio's signed
status callbacks report; a request is marked done with a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from voice.privacy import mask_text
from voice.store.schema import CallbackAttempt, CallbackRequest, table


def _now() -> datetime:
    return datetime.now(UTC)


def request_callback(
    engine: Engine,
    *,
    call_sid: str,
    phone: str,
    name: str = "",
    reason: str = "",
    summary: str = "",
) -> int:
    """Store a pending callback request and return its id (one short transaction).

    One per call: a call already waiting for its callback (a replayed webhook, a retried
    write) gets the same request back, so nobody is rung twice."""
    # The table may be newer than the database: create it on first use.
    table(CallbackRequest).create(engine, checkfirst=True)
    with Session(engine) as db, db.begin():
        waiting = (
            db.scalar(
                select(CallbackRequest.id).where(
                    CallbackRequest.call_sid == call_sid, CallbackRequest.status == "pending"
                )
            )
            if call_sid
            else None
        )
        if waiting is not None:
            return waiting
        row = CallbackRequest(
            call_sid=call_sid,
            phone=phone,
            name=name,
            reason=mask_text(reason),  # the phone stays: someone must ring it
            summary=mask_text(summary),
            created_at=_now(),
            status="pending",
        )
        db.add(row)
        db.flush()
        return row.id


def pending_callbacks(engine: Engine, limit: int = 100) -> list[CallbackRequest]:
    table(CallbackRequest).create(engine, checkfirst=True)
    with Session(engine, expire_on_commit=False) as db:
        query = (
            select(CallbackRequest)
            .where(CallbackRequest.status == "pending")
            .order_by(CallbackRequest.created_at)
            .limit(limit)
        )
        return list(db.scalars(query))


# -- calling back: attempts and their outcomes (the managers' /review/callbacks page) ---------

OUTCOMES = ("connected", "no-answer", "busy", "failed")
RINGING_FOR = timedelta(minutes=3)  # an attempt with no outcome this long no longer blocks


class CallbackRefused(ValueError):
    """Why a call-back cannot be placed or marked now (shown to the manager as it is)."""


def get_request(engine: Engine, request_id: int) -> CallbackRequest | None:
    table(CallbackRequest).create(engine, checkfirst=True)
    with Session(engine, expire_on_commit=False) as db:
        return db.get(CallbackRequest, request_id)


def recent_requests(
    engine: Engine, done_within: timedelta, limit: int = 200
) -> list[CallbackRequest]:
    """Pending requests (oldest promise first), then those marked done lately (newest first)."""
    since = _now() - done_within
    with Session(engine, expire_on_commit=False) as db:
        pending = db.scalars(
            select(CallbackRequest)
            .where(CallbackRequest.status == "pending")
            .order_by(CallbackRequest.created_at)
            .limit(limit)
        ).all()
        done = db.scalars(
            select(CallbackRequest)
            .where(CallbackRequest.status == "done", CallbackRequest.done_at >= since)
            .order_by(CallbackRequest.done_at.desc())
            .limit(limit)
        ).all()
        return [*pending, *done]


def attempts_for(engine: Engine, request_ids: list[int]) -> dict[int, list[CallbackAttempt]]:
    found: dict[int, list[CallbackAttempt]] = {}
    if not request_ids:
        return found
    with Session(engine, expire_on_commit=False) as db:
        for row in db.scalars(
            select(CallbackAttempt)
            .where(CallbackAttempt.request_id.in_(request_ids))
            .order_by(CallbackAttempt.id)
        ):
            found.setdefault(row.request_id, []).append(row)
    return found


def start_attempt(engine: Engine, request_id: int, manager: str) -> int:
    """A new attempt for a pending request; refused while another one is still ringing (a
    double click must not ring the caller twice)."""
    now = _now()
    with Session(engine) as db, db.begin():
        request = db.get(CallbackRequest, request_id, with_for_update=True)
        if request is None:
            raise CallbackRefused("no such call-back request")
        if request.status != "pending":
            raise CallbackRefused("this call-back was already marked done")
        busy = db.scalar(
            select(CallbackAttempt.id).where(
                CallbackAttempt.request_id == request_id,
                CallbackAttempt.outcome == "",
                CallbackAttempt.status.in_(("placing", "placed")),
                CallbackAttempt.placed_at >= now - RINGING_FOR,
            )
        )
        if busy:
            raise CallbackRefused("a call-back for this caller is already ringing")
        row = CallbackAttempt(
            request_id=request_id, manager=manager, placed_at=now, updated_at=now, status="placing"
        )
        db.add(row)
        db.flush()
        return row.id


def attempt_placed(engine: Engine, attempt_id: int, twilio_sid: str) -> None:
    _set_attempt(engine, attempt_id, status="placed", twilio_sid=twilio_sid)


def attempt_failed(engine: Engine, attempt_id: int, error: str) -> None:
    """Twilio refused (or never answered) `calls.create`: the call was not placed."""
    _set_attempt(engine, attempt_id, status="failed", outcome="failed", detail=mask_text(error))


def attempt_outcome(engine: Engine, attempt_id: int, outcome: str, detail: str = "") -> bool:
    """How the call-back ended; the first outcome stands (Twilio may report twice). False when
    there is no such attempt or it already has one."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    with Session(engine) as db, db.begin():
        row = db.get(CallbackAttempt, attempt_id)
        if row is None or row.outcome:
            return False
        row.outcome, row.status, row.detail = outcome, "done", mask_text(detail)
        row.updated_at = _now()
        return True


def attempt_progress(engine: Engine, attempt_id: int, detail: str) -> None:
    """A step before the outcome (the manager's phone rings, they answered)."""
    with Session(engine) as db, db.begin():
        row = db.get(CallbackAttempt, attempt_id)
        if row is not None and not row.outcome:
            row.detail, row.updated_at = mask_text(detail), _now()


def get_attempt(engine: Engine, attempt_id: int) -> CallbackAttempt | None:
    with Session(engine, expire_on_commit=False) as db:
        return db.get(CallbackAttempt, attempt_id)


def mark_done(engine: Engine, request_id: int, manager: str, note: str) -> CallbackRequest:
    """The request is dealt with; `note` says how (masked). Marking it twice is refused."""
    with Session(engine, expire_on_commit=False) as db, db.begin():
        request = db.get(CallbackRequest, request_id, with_for_update=True)
        if request is None:
            raise CallbackRefused("no such call-back request")
        if request.status != "pending":
            raise CallbackRefused(f"already marked done by {request.done_by or 'someone'}")
        request.status, request.done_at = "done", _now()
        request.done_by, request.done_note = manager, mask_text(note)
        return request


def _set_attempt(engine: Engine, attempt_id: int, **values: str) -> None:
    with Session(engine) as db, db.begin():
        row = db.get(CallbackAttempt, attempt_id)
        if row is None:
            return
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = _now()
