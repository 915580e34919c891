"""Callback requests: when a hand-over to a person fails, a person rings the caller back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from voice.privacy import mask_text
from voice.store.calls import Base


def _now() -> datetime:
    return datetime.now(UTC)


class CallbackRequest(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Not a foreign key: a callback must be recorded even if the call row was never written.
    call_sid: Mapped[str] = mapped_column(String(64), index=True, default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    name: Mapped[str] = mapped_column(String(128), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True, default=_now)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")  # |done
    # Marked done by a manager on /review/callbacks, with what they noted.
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_by: Mapped[str] = mapped_column(String(64), default="")
    done_note: Mapped[str] = mapped_column(Text, default="")


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
    CallbackRequest.__table__.create(engine, checkfirst=True)
    with Session(engine) as db, db.begin():
        waiting = call_sid and db.scalar(
            select(CallbackRequest.id).where(
                CallbackRequest.call_sid == call_sid, CallbackRequest.status == "pending"
            )
        )
        if waiting:
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
    CallbackRequest.__table__.create(engine, checkfirst=True)
    with Session(engine, expire_on_commit=False) as db:
        query = (
            select(CallbackRequest)
            .where(CallbackRequest.status == "pending")
            .order_by(CallbackRequest.created_at)
            .limit(limit)
        )
        return list(db.scalars(query))
