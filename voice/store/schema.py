"""Every table, in one module (one metadata for Alembic and `create_all`):

- calls and their turns, and the stream grants the voice webhook writes for the media stream;
- the business: customers, shop orders and returns, bank accounts and cards, clinics and their
  appointments;
- supervision: each live call's state as its worker last wrote it, the supervisors' actions on
  calls (also the queue of commands the holding worker carries out), callback requests and the
  attempts to call a caller back;
- review's own: managers, their sessions, and the tags and notes they leave on calls.

The functions that read and write them live beside, one module per concern (`calls.Store`,
`stream_grants`, `callbacks`, `live`, `supervision`, `history`); review reads through those.
Money is integer cents with a currency, never floats. Clinic times are naive datetimes in the
clinic's local time (opening hours are local); audit timestamps (`created_at`, `blocked_at`)
are UTC. Tags, notes, supervisor actions and callback requests name a call by its CallSid
without a foreign key on purpose: retention deleting old calls must never be blocked by them,
and a callback must be recorded even when the call row was never written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ACTIVE_APPOINTMENT_STATUSES = ("booked", "moved")
# The rows the one-booking-per-slot index covers (SQL, so SQLite and Postgres share it).
ACTIVE_SLOT = text(f"status IN ({', '.join(repr(s) for s in ACTIVE_APPOINTMENT_STATUSES)})")


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


# -- calls -------------------------------------------------------------------------------------


class Call(Base):
    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream_sid: Mapped[str] = mapped_column(String(64), default="")
    worker: Mapped[str] = mapped_column(String(128), default="")  # host:pid holding the call
    caller: Mapped[str] = mapped_column(String(32), index=True, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    end_reason: Mapped[str] = mapped_column(String(32), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="")  # resolved|escalated|abandoned
    summary: Mapped[str] = mapped_column(Text, default="")
    topics: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    escalation_rule: Mapped[str] = mapped_column(String(32), default="")
    escalation_reason: Mapped[str] = mapped_column(Text, default="")
    escalation_turn: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_sentiment: Mapped[float | None] = mapped_column(Float, nullable=True)
    median_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    recording_path: Mapped[str] = mapped_column(Text, default="")
    events_path: Mapped[str] = mapped_column(Text, default="")

    turn_rows: Mapped[list[Turn]] = relationship(
        back_populates="call", order_by="Turn.index", cascade="all, delete-orphan"
    )


class Turn(Base):
    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))  # "caller" | "agent"
    text: Mapped[str] = mapped_column(Text, default="")
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    end_s: Mapped[float] = mapped_column(Float, default=0.0)
    language: Mapped[str] = mapped_column(String(8), default="")
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    sentiment_label: Mapped[str] = mapped_column(String(8), default="")
    sentiment_score: Mapped[float | None] = mapped_column(Float, nullable=True)  # -1..1
    escalation_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    # An agent turn a supervisor typed (the live console's "say"): the manager's name.
    supervisor: Mapped[str] = mapped_column(String(64), default="")

    call: Mapped[Call] = relationship(back_populates="turn_rows")


class StreamGrant(Base):
    __tablename__ = "stream_grants"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller: Mapped[str] = mapped_column(String(32), default="")
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- the business ------------------------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)  # E.164
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(200), default="")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # processing|shipped|delivered|cancelled
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, qty, price}]
    ordered_on: Mapped[date] = mapped_column(Date)
    shipped_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    delivered_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    eta: Mapped[date | None] = mapped_column(Date, nullable=True)
    carrier: Mapped[str] = mapped_column(String(32), default="")
    tracking: Mapped[str] = mapped_column(String(64), default="")


class Return(Base):
    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique: a repeated request can never open a second return for the same order.
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="started")  # started|received|refunded
    refund_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # checking|savings
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # integers: no float money
    currency: Mapped[str] = mapped_column(String(3), default="USD")


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("account_id", "last4"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    last4: Mapped[str] = mapped_column(String(4))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|blocked
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(16), default="")
    # weekday -> ["HH:MM", "HH:MM"] | None
    hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    kinds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # kind -> minutes
    doctors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, kinds}]
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30)


class Appointment(Base):
    __tablename__ = "appointments"
    # A doctor's start time is booked once among the active rows: two calls that both saw a
    # slot free can't both take it (the loser gets IntegrityError; see
    # `voice.business.clinics.Clinics.book_appointment`).
    __table_args__ = (
        Index(
            "uq_appointments_active_slot",
            "clinic_id",
            "doctor",
            "starts_at",
            unique=True,
            sqlite_where=ACTIVE_SLOT,
            postgresql_where=ACTIVE_SLOT,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    doctor: Mapped[str] = mapped_column(String(80))
    starts_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # clinic local time
    minutes: Mapped[int] = mapped_column(Integer, default=30)
    status: Mapped[str] = mapped_column(String(16), default="booked")  # booked|cancelled|moved


# -- supervision -------------------------------------------------------------------------------


class LiveCall(Base):
    """A call in progress, as the worker holding it last wrote it (voice/store/live.py).

    Every worker's live pages read these rows, so the console works whichever worker holds a
    call. Nothing here is unmasked: the caller's number is stored masked. `version` grows with
    every write, so a reader knows what changed without comparing whole rows."""

    __tablename__ = "live_calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker: Mapped[str] = mapped_column(String(128), default="")  # host:pid holding the call
    # WORKER_NAME: the key by which the proxy routes listen-in to the worker holding the call.
    worker_name: Mapped[str] = mapped_column(String(128), default="")
    caller: Mapped[str] = mapped_column(String(32), default="")  # masked
    caller_name: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="live")  # live|ended
    end_reason: Mapped[str] = mapped_column(String(32), default="")
    intent: Mapped[str] = mapped_column(String(40), default="")
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the agent works with
    pending_question: Mapped[str] = mapped_column(Text, default="")
    pending_action: Mapped[str] = mapped_column(String(40), default="")  # what a yes would do
    blocked_actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    sentiment_label: Mapped[str] = mapped_column(String(8), default="")
    sentiment_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    escalation_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    speaking: Mapped[str] = mapped_column(String(8), default="")  # ""|agent|caller|both
    turns: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)


class SupervisorAction(Base):
    """One thing a manager did to a call: listen, say, block an action, take over, end, call
    back. It is the call's event (who, what, when, with what result) and, for the actions the
    worker holding the call must carry out, the command queue that worker reads
    (`state` queued -> taken -> done|failed); the others are stored as `logged`."""

    __tablename__ = "supervisor_actions"
    __table_args__ = (Index("ix_supervisor_actions_state_call", "state", "call_sid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)  # no FK: retention decides
    manager: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(16))  # listen|say|block|take_over|end|call_back|…
    text: Mapped[str] = mapped_column(Text, default="")  # what to say, the action blocked, …
    state: Mapped[str] = mapped_column(String(12), default="logged")
    worker: Mapped[str] = mapped_column(String(128), default="")  # who is to carry it out
    result: Mapped[str] = mapped_column(Text, default="")  # what happened, or why it failed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CallbackAttempt(Base):
    """One "Call back now": the outbound call Twilio placed (manager's phone first, then the
    caller) and how it ended, as Twilio's signed status callbacks told us."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(Integer, index=True)  # callback_requests.id
    manager: Mapped[str] = mapped_column(String(64), default="")
    twilio_sid: Mapped[str] = mapped_column(String(64), index=True, default="")
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # placing|placed|failed|done; `outcome` once known: connected|no-answer|busy|failed
    status: Mapped[str] = mapped_column(String(16), default="placing")
    outcome: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


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


# -- review ------------------------------------------------------------------------------------


class Manager(Base):
    __tablename__ = "review_managers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Unused: wrong passwords are throttled per (address, name) in memory (review/throttle.py),
    # so no account ever pauses. Kept to need no migration.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The manager's own phone (E.164): rung first by "Call back now", and the number a call
    # they take over is handed to (HUMAN_AGENT_NUMBER when empty).
    phone: Mapped[str] = mapped_column(String(16), default="")


class ReviewSession(Base):
    __tablename__ = "review_sessions"

    # SHA-256 of the cookie's token: a copy of the database does not hand out live sessions.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    manager_id: Mapped[int] = mapped_column(
        ForeignKey("review_managers.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CallTag(Base):
    __tablename__ = "review_tags"
    __table_args__ = (UniqueConstraint("call_sid", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    tag: Mapped[str] = mapped_column(String(32), index=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("review_managers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallNote(Base):
    __tablename__ = "review_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("review_managers.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def table(model: type[Base]) -> Table:
    """A model's table (what `create` and `create_all(tables=...)` take)."""
    return cast(Table, model.__table__)


SUPERVISION_TABLES = [table(m) for m in (LiveCall, SupervisorAction, CallbackAttempt)]
REVIEW_TABLES = [table(m) for m in (Manager, ReviewSession, CallTag, CallNote)]
BUSINESS_TABLES = [table(m) for m in (Customer, Order, Return, Account, Card, Clinic, Appointment)]


def create_tables(engine: Engine) -> None:
    """Create the business tables if missing (safe to call on every start)."""
    Base.metadata.create_all(engine, tables=BUSINESS_TABLES)
