"""The business tables: customers, shop orders and returns, bank accounts and cards, clinics
and their appointments.

They share `Base` (and so one metadata) with the call tables in `voice.store.calls`. Money is
integer cents with a currency, never floats. Clinic times are naive datetimes in the clinic's
local time (opening hours are local); audit timestamps (`created_at`, `blocked_at`) are UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from voice.store.calls import Base

ACTIVE_APPOINTMENT_STATUSES = ("booked", "moved")
# The rows the one-booking-per-slot index covers (SQL, so SQLite and Postgres share it).
ACTIVE_SLOT = text(f"status IN ({', '.join(repr(s) for s in ACTIVE_APPOINTMENT_STATUSES)})")


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
    items: Mapped[list[dict]] = mapped_column(JSON, default=list)  # [{name, qty, price}]
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
    hours: Mapped[dict] = mapped_column(JSON, default=dict)  # weekday -> ["HH:MM","HH:MM"]|None
    kinds: Mapped[dict] = mapped_column(JSON, default=dict)  # kind -> minutes
    doctors: Mapped[list[dict]] = mapped_column(JSON, default=list)  # [{name, kinds}]
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


BUSINESS_TABLES = [
    m.__table__ for m in (Customer, Order, Return, Account, Card, Clinic, Appointment)
]


def create_tables(engine: Engine) -> None:
    """Create the business tables if missing (safe to call on every start)."""
    Base.metadata.create_all(engine, tables=BUSINESS_TABLES)
