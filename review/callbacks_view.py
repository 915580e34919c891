"""The call-back list, arranged for its page: each request with the caller masked and named,
their earlier calls, and every attempt to call them back with its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from review.queries import caller_names
from voice.privacy import mask_phone, mask_text
from voice.store.callbacks import attempts_for, recent_requests
from voice.store.schema import Call, Manager

DONE_SHOWN = timedelta(days=2)  # requests marked done stay on the page this long
HISTORY = 5  # earlier calls shown per caller


@dataclass
class EarlierCall:
    call_sid: str
    started_at: datetime
    outcome: str
    summary: str


@dataclass
class AttemptView:
    id: int
    manager: str
    placed_at: datetime
    status: str
    outcome: str
    detail: str

    @property
    def ringing(self) -> bool:
        return self.status in ("placing", "placed") and not self.outcome


@dataclass
class CallbackView:
    id: int
    call_sid: str
    caller: str  # masked
    caller_name: str
    reason: str
    summary: str
    promised_at: datetime
    status: str
    done_at: datetime | None
    done_by: str
    done_note: str
    calls_before: int = 0
    history: list[EarlierCall] = field(default_factory=list)
    attempts: list[AttemptView] = field(default_factory=list)

    @property
    def ringing(self) -> bool:
        return any(a.ringing for a in self.attempts)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _history(db: Session, phone: str, exclude: str) -> tuple[int, list[EarlierCall]]:
    if not phone:
        return 0, []
    where = (Call.caller == phone, Call.call_sid != exclude)
    count = db.scalar(select(func.count()).select_from(Call).where(*where)) or 0
    rows = db.execute(
        select(Call.call_sid, Call.started_at, Call.outcome, Call.summary)
        .where(*where)
        .order_by(Call.started_at.desc())
        .limit(HISTORY)
    )
    return count, [
        EarlierCall(sid, _utc(started) or started, outcome, mask_text(summary or ""))
        for sid, started, outcome, summary in rows
    ]


def callback_list(engine: Engine) -> list[CallbackView]:
    requests = recent_requests(engine, DONE_SHOWN)
    attempts = attempts_for(engine, [r.id for r in requests])
    views = []
    with Session(engine) as db:
        names = caller_names(db, [r.phone for r in requests])
        for r in requests:
            count, history = _history(db, r.phone, r.call_sid)
            views.append(
                CallbackView(
                    id=r.id,
                    call_sid=r.call_sid,
                    caller=mask_phone(r.phone),
                    caller_name=r.name or names.get(r.phone, ""),
                    reason=mask_text(r.reason),
                    summary=mask_text(r.summary),
                    promised_at=_utc(r.created_at) or r.created_at,
                    status=r.status,
                    done_at=_utc(r.done_at),
                    done_by=r.done_by,
                    done_note=mask_text(r.done_note),
                    calls_before=count,
                    history=history,
                    attempts=[
                        AttemptView(
                            a.id,
                            a.manager,
                            _utc(a.placed_at) or a.placed_at,
                            a.status,
                            a.outcome,
                            mask_text(a.detail),
                        )
                        for a in attempts.get(r.id, [])
                    ],
                )
            )
    return views


def manager_phone(engine: Engine, manager_id: int) -> str:
    with Session(engine) as db:
        return db.scalar(select(Manager.phone).where(Manager.id == manager_id)) or ""
