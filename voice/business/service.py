"""Acme's business data (shop orders and returns, bank accounts and cards, clinic appointments)
and the look-ups and actions the agent may perform on it.

Results are plain dataclasses, never ORM objects, so they outlive the session and cross threads.
Every changing action is idempotent: a caller who repeats a request, or a model that calls a tool
twice, never creates a second return, block or booking. Two calls booking one slot at once get
it once: bookings are checked one at a time per clinic, and a unique index on the active slot
backs that up in the database (SQLite and Postgres alike).

Clinic times are naive datetimes in the clinic's local time (opening hours are local); audit
timestamps (`created_at`, `blocked_at`) are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

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
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from voice.dialogue.numbers import spoken_digits
from voice.store.calls import Base

OPEN_ORDER_STATUSES = ("processing", "shipped")
ACTIVE_APPOINTMENT_STATUSES = ("booked", "moved")
# The rows the one-booking-per-slot index covers (SQL, so SQLite and Postgres share it).
ACTIVE_SLOT = text("status IN ('booked', 'moved')")
RETURN_WINDOW_DAYS = 30
CHANGE_NOTICE = timedelta(hours=24)  # the clinics' rule for moving or cancelling
# data/knowledge/returns.md: items that can't be taken back (health and hygiene, personal, food).
NOT_RETURNABLE = re.compile(
    r"\b(ear ?buds?|in-ear|toothbrush\w*|cosmetics?|make-?up|lipstick|swimwear|swimsuit|"
    r"bikini|gift cards?|engraved|personali[sz]ed|food|snacks?|chocolates?)\b",
    re.IGNORECASE,
)
# data/knowledge/opening-hours.md: the clinics close on these public holidays, and at 2 PM on
# Christmas Eve and New Year's Eve.
CLOSED_HOLIDAYS = (
    "New Year's Day",
    "Memorial Day",
    "Independence Day",
    "Labor Day",
    "Thanksgiving Day",
    "Christmas Day",
)
EARLY_CLOSING = ((12, 24), (12, 31))
EARLY_CLOSING_TIME = time(14, 0)


# --- tables -------------------------------------------------------------------------------


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
    # slot free can't both take it (the loser gets IntegrityError; see `book_appointment`).
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


# --- what callers get back -----------------------------------------------------------------


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    name: str
    phone: str
    email: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name else ""


@dataclass(frozen=True)
class OrderInfo:
    number: str
    customer_id: int
    status: str
    items: list[dict]
    total_cents: int
    ordered_on: date
    shipped_on: date | None
    delivered_on: date | None
    eta: date | None
    carrier: str
    tracking: str
    return_status: str | None = None


@dataclass(frozen=True)
class AppointmentInfo:
    id: int
    customer_id: int
    clinic: str
    kind: str
    doctor: str
    starts_at: datetime
    minutes: int
    status: str


@dataclass(frozen=True)
class ClinicInfo:
    name: str
    address: str
    phone: str
    doctors: tuple[str, ...]
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class CardInfo:
    last4: str
    status: str  # active|blocked
    account_kind: str


@dataclass(frozen=True)
class ActionResult:
    """The outcome of an action or spoken look-up: `facts` are what the agent may say."""

    ok: bool
    already_done: bool = False
    facts: dict[str, str] = field(default_factory=dict)
    message: str = ""


def _refused(reason: str, message: str, **facts: str) -> ActionResult:
    return ActionResult(ok=False, facts={"reason": reason, **facts}, message=message)


# --- how things are said -------------------------------------------------------------------


def spoken_date(day: date) -> str:
    """'Thursday, December 3': how a person says a date on the phone."""
    return f"{day:%A}, {day:%B} {day.day}"


def spoken_time(moment: datetime | time) -> str:
    """'9:30 AM'."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def money(cents: int, currency: str = "USD") -> str:
    amount = f"{abs(cents) / 100:,.2f}"
    sign = "-" if cents < 0 else ""
    return f"{sign}${amount}" if currency == "USD" else f"{sign}{amount} {currency}"


def to_cents(value: object) -> int:
    """Decimal strings or numbers to integer cents, without float rounding surprises."""
    return int((Decimal(str(value)) * 100).quantize(Decimal(1)))


def items_total_cents(items: Iterable[dict]) -> int:
    return sum(to_cents(item.get("price", 0)) * int(item.get("qty", 1)) for item in items)


def items_phrase(items: Iterable[dict]) -> str:
    parts = [
        item["name"] if int(item.get("qty", 1)) == 1 else f"{item['qty']} x {item['name']}"
        for item in items
    ]
    return ", ".join(parts)


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def normalise_order_number(text: str) -> str:
    """'#4521', 'order 45 21', 'four five two one' or 'forty five twenty one' -> '4521'.

    Speech-to-text writes numbers in many ways; the shared transcript parser reads them all,
    and the first whole number said is taken as the order number ('' when there is none).
    """
    runs = [digits for digits in spoken_digits(text) if digits.isdigit()]
    return runs[0] if runs else ""


def normalise_phone(text: str) -> str:
    """'(555) 123-4567', '1 555 123 4567' or '+15551234567' -> '+15551234567' (NANP default)."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+"):
        return f"+{digits}"
    if len(digits) == 10:
        return f"+1{digits}"
    if len(digits) == 11 and digits.startswith("1"):
        return f"+{digits}"
    return f"+{digits}" if digits else ""


def _order_sentence(order: OrderInfo) -> str:
    what = f"Order {order.number} ({items_phrase(order.items)})"
    if order.status == "processing":
        due = f" and should arrive {spoken_date(order.eta)}" if order.eta else ""
        return f"{what} is being prepared{due}."
    if order.status == "shipped":
        sent = f" on {spoken_date(order.shipped_on)}" if order.shipped_on else ""
        due = f" and is due {spoken_date(order.eta)}" if order.eta else ""
        return f"{what} shipped with {order.carrier}{sent}{due}."
    if order.status == "delivered" and order.delivered_on:
        return f"{what} was delivered {spoken_date(order.delivered_on)}."
    return f"{what} is {order.status}."


def facts_for_order(order: OrderInfo) -> dict[str, str]:
    """Everything the agent may say about an order, as human-readable strings."""
    facts = {
        "order_number": order.number,
        "status": order.status,
        "items": items_phrase(order.items),
        "total": money(order.total_cents),
        "ordered_on": spoken_date(order.ordered_on),
    }
    for key, day in (
        ("shipped_on", order.shipped_on),
        ("delivered_on", order.delivered_on),
        ("eta", order.eta if order.status in OPEN_ORDER_STATUSES else None),
    ):
        if day:
            facts[key] = spoken_date(day)
    if order.carrier:
        facts["carrier"] = order.carrier
    if order.tracking:
        facts["tracking"] = order.tracking
    if order.return_status:
        facts["return_status"] = order.return_status
    facts["summary"] = _order_sentence(order)
    return facts


def status_facts_for_order(order: OrderInfo) -> dict[str, str]:
    """What anyone who gives an order's number may hear: its status and delivery date. Nothing
    about who ordered what (items, amounts, carrier, tracking), as for a caller we can't tie to
    the order's account."""
    facts = {"order_number": order.number, "status": order.status}
    what = f"Order {order.number}"
    if order.status == "delivered" and order.delivered_on:
        facts["delivered_on"] = spoken_date(order.delivered_on)
        facts["summary"] = f"{what} was delivered {facts['delivered_on']}."
    elif order.status in OPEN_ORDER_STATUSES and order.eta:
        facts["eta"] = spoken_date(order.eta)
        verb = (
            "has shipped and is due"
            if order.status == "shipped"
            else "is being prepared and should arrive"
        )
        facts["summary"] = f"{what} {verb} {facts['eta']}."
    else:
        facts["summary"] = f"{what} is {order.status}."
    return facts


def kind_key(text: str) -> str:
    """Compare appointment kinds the way people say them: 'Checkup' == 'check-up'."""
    return re.sub(r"[^a-z]", "", text.lower()).removesuffix("s")


def _local_naive(moment: datetime) -> datetime:
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- conversions -----------------------------------------------------------------------------


def _customer_info(row: Customer) -> CustomerInfo:
    return CustomerInfo(id=row.id, name=row.name, phone=row.phone, email=row.email)


def _order_info(row: Order, return_status: str | None) -> OrderInfo:
    items = [dict(item) for item in row.items or []]
    return OrderInfo(
        number=row.number,
        customer_id=row.customer_id,
        status=row.status,
        items=items,
        total_cents=items_total_cents(items),
        ordered_on=row.ordered_on,
        shipped_on=row.shipped_on,
        delivered_on=row.delivered_on,
        eta=row.eta,
        carrier=row.carrier,
        tracking=row.tracking,
        return_status=return_status,
    )


def _clinic_info(row: Clinic) -> ClinicInfo:
    return ClinicInfo(
        name=row.name,
        address=row.address,
        phone=row.phone,
        doctors=tuple(d["name"] for d in row.doctors or []),
        kinds=tuple(row.kinds or {}),
    )


def _appointment_info(row: Appointment, clinic: str) -> AppointmentInfo:
    return AppointmentInfo(
        id=row.id,
        customer_id=row.customer_id,
        clinic=clinic,
        kind=row.kind,
        doctor=row.doctor,
        starts_at=row.starts_at,
        minutes=row.minutes,
        status=row.status,
    )


def facts_for_appointment(info: AppointmentInfo) -> dict[str, str]:
    """What the agent may say about an appointment."""
    return {
        "appointment_id": str(info.id),
        "kind": info.kind,
        "clinic": info.clinic,
        "doctor": info.doctor,
        "date": spoken_date(info.starts_at.date()),
        "time": spoken_time(info.starts_at),
        "status": info.status,
    }


def _when(moment: datetime) -> str:
    return f"{spoken_date(moment.date())} at {spoken_time(moment)}"


# --- the service -----------------------------------------------------------------------------


class Business:
    """Look-ups and idempotent actions over the business tables; one short transaction each.

    `now` returns the clinics' local time; tests pass a fixed clock.
    """

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = datetime.now) -> None:
        self.engine = engine
        self._now = now
        create_tables(engine)

    def now(self) -> datetime:
        """The clinics' local time (a fixed clock in tests and rehearsals)."""
        return self._now()

    # customers and orders

    def customer_by_phone(self, phone: str) -> CustomerInfo | None:
        number = normalise_phone(phone)
        with Session(self.engine) as db:
            row = db.scalar(select(Customer).where(Customer.phone == number))
            return _customer_info(row) if row else None

    def customer(self, customer_id: int) -> CustomerInfo | None:
        with Session(self.engine) as db:
            row = db.get(Customer, customer_id)
            return _customer_info(row) if row else None

    def orders_for(self, customer_id: int) -> list[OrderInfo]:
        """Newest first."""
        return self._orders(Order.customer_id == customer_id)

    def open_orders(self, customer_id: int) -> list[OrderInfo]:
        return [o for o in self.orders_for(customer_id) if o.status in OPEN_ORDER_STATUSES]

    def order_numbers(self) -> list[str]:
        with Session(self.engine) as db:
            return list(db.scalars(select(Order.number).order_by(Order.number)))

    def order(self, number: str) -> OrderInfo | None:
        found = self._orders(Order.number == normalise_order_number(number))
        return found[0] if found else None

    def _orders(self, condition) -> list[OrderInfo]:
        query = (
            select(Order, Return.status)
            .outerjoin(Return, Return.order_number == Order.number)
            .where(condition)
            .order_by(Order.ordered_on.desc(), Order.number.desc())
        )
        with Session(self.engine) as db:
            return [_order_info(row, status) for row, status in db.execute(query)]

    # returns

    def return_check(
        self, order_number: str, *, customer_id: int | None = None
    ) -> ActionResult | None:
        """Why a return can't be started, or the return that exists already; None when one can.

        Changes nothing: the agent asks this before it asks the caller to confirm a return.
        """
        number = normalise_order_number(order_number)
        with Session(self.engine) as db:
            order = db.scalar(select(Order).where(Order.number == number))
            if order is None or customer_id not in (None, order.customer_id):
                return _refused(
                    "unknown_order",
                    f"I couldn't find an order numbered {number or 'like that'}.",
                    order_number=number,
                )
            existing = db.scalar(select(Return).where(Return.order_number == number))
            if existing is not None:
                return _return_exists(existing)
            return self._return_refusal(order)

    def returnable_orders(self, customer_id: int) -> list[OrderInfo]:
        """The customer's orders a return could be started for now, newest first."""
        return [o for o in self.orders_for(customer_id) if self.return_check(o.number) is None]

    def start_return(
        self, order_number: str, reason: str = "", *, customer_id: int | None = None
    ) -> ActionResult:
        """Open a return for a delivered order within the return window.

        `customer_id`, when given, must own the order: a caller can't act on someone else's.
        """
        number = normalise_order_number(order_number)
        try:
            return self._start_return(number, reason, customer_id)
        except IntegrityError:
            # Another call inserted the same return between our check and insert: report it.
            return self._start_return(number, reason, customer_id)

    def _start_return(self, number: str, reason: str, customer_id: int | None) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            order = db.scalar(select(Order).where(Order.number == number))
            if order is None or customer_id not in (None, order.customer_id):
                return _refused(
                    "unknown_order",
                    f"I couldn't find an order numbered {number or 'like that'}.",
                    order_number=number,
                )
            existing = db.scalar(select(Return).where(Return.order_number == number))
            if existing is not None:
                return _return_exists(existing)
            refusal = self._return_refusal(order)
            if refusal is not None:
                return refusal
            created = Return(
                order_number=number,
                reason=reason.strip(),
                status="started",
                refund_cents=items_total_cents(order.items),
                created_at=_utcnow(),
            )
            db.add(created)
            db.flush()
            refund = money(created.refund_cents)
            return ActionResult(
                ok=True,
                facts={
                    "order_number": number,
                    "return_status": "started",
                    "refund": refund,
                    "refund_timing": "within 5 business days of the item arriving back",
                    "label": "a prepaid return label by email",
                },
                message=(
                    f"I've started a return for order {number}. We'll email you a prepaid "
                    f"return label, and once the item is back the refund of {refund} goes "
                    "to your original payment method within 5 business days."
                ),
            )

    def _return_refusal(self, order: Order) -> ActionResult | None:
        number = order.number
        excluded = [i["name"] for i in order.items or [] if NOT_RETURNABLE.search(i["name"])]
        if excluded and len(excluded) == len(order.items or []):
            return _refused(
                "not_returnable",
                f"Order {number} can't be returned: {_joined(excluded)} can't be taken back for "
                "health and hygiene reasons.",
                order_number=number,
                items=_joined(excluded),
            )
        if order.status == "cancelled":
            return _refused(
                "cancelled",
                f"Order {number} was cancelled, so there's nothing to "
                "return; its payment was refunded when it was cancelled.",
                order_number=number,
            )
        if order.status != "delivered":
            due = f" It's due {spoken_date(order.eta)}." if order.eta else ""
            return _refused(
                "not_delivered",
                f"Order {number} hasn't been delivered yet, so a "
                f"return can only be started once it arrives.{due}",
                order_number=number,
                status=order.status,
            )
        delivered = order.delivered_on or order.ordered_on
        if (self._now().date() - delivered).days > RETURN_WINDOW_DAYS:
            return _refused(
                "outside_window",
                f"Order {number} was delivered "
                f"{spoken_date(delivered)}, more than {RETURN_WINDOW_DAYS} days ago, "
                "so it's outside our return window.",
                order_number=number,
                delivered_on=spoken_date(delivered),
            )
        return None

    # bank

    def account_balance(self, customer_id: int, kind: str | None = None) -> ActionResult:
        query = select(Account).where(Account.customer_id == customer_id).order_by(Account.id)
        if kind:
            query = query.where(Account.kind == kind.strip().lower())
        with Session(self.engine) as db:
            accounts = list(db.scalars(query))
        if not accounts:
            what = f"a {kind} account" if kind else "an account"
            return _refused("no_account", f"I can't find {what} in your name.")
        facts = {
            f"{a.kind} account ending {a.number[-4:]}": money(a.balance_cents, a.currency)
            for a in accounts
        }
        sentences = [f"your {name} has {amount}" for name, amount in facts.items()]
        return ActionResult(ok=True, facts=facts, message=f"{_joined(sentences).capitalize()}.")

    def cards_for(self, customer_id: int) -> list[CardInfo]:
        query = (
            select(Card, Account.kind)
            .join(Account, Card.account_id == Account.id)
            .where(Account.customer_id == customer_id)
            .order_by(Card.id)
        )
        with Session(self.engine) as db:
            return [CardInfo(card.last4, card.status, kind) for card, kind in db.execute(query)]

    def block_card(self, customer_id: int, last4: str | None = None) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            cards = list(
                db.scalars(
                    select(Card)
                    .join(Account, Card.account_id == Account.id)
                    .where(Account.customer_id == customer_id)
                    .order_by(Card.id)
                )
            )
            chosen = _choose_card(cards, last4)
            if isinstance(chosen, ActionResult):
                return chosen
            if chosen.status == "blocked":
                on = f" on {spoken_date(chosen.blocked_at.date())}" if chosen.blocked_at else ""
                return ActionResult(
                    ok=True,
                    already_done=True,
                    facts={"card": chosen.last4, "card_status": "blocked"},
                    message=f"Your card ending {chosen.last4} was already "
                    f"blocked{on}; no payments can be made with it.",
                )
            chosen.status, chosen.blocked_at = "blocked", _utcnow()
            return ActionResult(
                ok=True,
                facts={
                    "card": chosen.last4,
                    "card_status": "blocked",
                    "replacement": "within 5 to 7 business days",
                },
                message=(
                    f"I've blocked your card ending {chosen.last4}; it can't be used from "
                    "now on. A replacement card is on its way and arrives within 5 to 7 "
                    "business days."
                ),
            )

    # clinics

    def appointments_for(
        self, customer_id: int, *, include_past: bool = False
    ) -> list[AppointmentInfo]:
        """Soonest first; cancelled ones included so the agent can say so."""
        query = (
            select(Appointment, Clinic.name)
            .join(Clinic, Appointment.clinic_id == Clinic.id)
            .where(Appointment.customer_id == customer_id)
            .order_by(Appointment.starts_at)
        )
        if not include_past:
            query = query.where(Appointment.starts_at >= self._now())
        with Session(self.engine) as db:
            return [_appointment_info(row, name) for row, name in db.execute(query)]

    def appointment_kind(self, said: str) -> str | None:
        """The kind of appointment a clinic offers for what the caller said ('cleaning' ->
        'dental cleaning'), or None when no clinic offers it."""
        with Session(self.engine) as db:
            found = _clinic_for(db, said, None)
            return found[1] if found else None

    def appointment_kinds(self) -> list[str]:
        with Session(self.engine) as db:
            return [
                k for place in db.scalars(select(Clinic).order_by(Clinic.id)) for k in place.kinds
            ]

    def free_slots(
        self,
        day: date,
        kind: str,
        clinic: str | None = None,
        *,
        ignore: int | None = None,
        doctor: str | None = None,
    ) -> list[datetime]:
        """Start times on `day` when a doctor who does `kind` (or that doctor) is free, within
        clinic hours; `ignore` leaves out an appointment being moved."""
        with Session(self.engine) as db:
            found = _clinic_for(db, kind, clinic)
            if found is None:
                return []
            place, canonical = found
            return [
                start
                for start, who in self._free(db, place, day, canonical, ignore, doctor=doctor)
                if doctor is None or who == doctor
            ]

    def closed_reason(self, kind: str, day: date) -> str | None:
        """Why the clinic that offers `kind` takes no appointments on `day` (a reason code:
        'weekday' or a public holiday's name), or None when it is open."""
        with Session(self.engine) as db:
            found = _clinic_for(db, kind, None)
            if found is None:
                return None
            place, _ = found
            holiday = _holiday(day)
            if holiday:
                return holiday
            if not (place.hours or {}).get(day.strftime("%A").lower()):
                return "weekday"
            return None

    def clinic_for_kind(self, kind: str) -> ClinicInfo | None:
        with Session(self.engine) as db:
            found = _clinic_for(db, kind, None)
            return _clinic_info(found[0]) if found else None

    def clinics(self) -> list[ClinicInfo]:
        with Session(self.engine) as db:
            return [_clinic_info(c) for c in db.scalars(select(Clinic).order_by(Clinic.id))]

    def doctors(self) -> list[str]:
        return [d for c in self.clinics() for d in c.doctors]

    def appointment(self, appointment_id: int) -> AppointmentInfo | None:
        with Session(self.engine) as db:
            row = db.get(Appointment, appointment_id)
            return _appointment_info(row, db.get(Clinic, row.clinic_id).name) if row else None

    def change_check(
        self, appointment_id: int, *, customer_id: int | None = None
    ) -> ActionResult | None:
        """Why an appointment can't be moved or cancelled now (24 hours' notice), or None.

        Changes nothing: asked before the caller is asked to confirm a change."""
        with Session(self.engine) as db:
            return self._change_refusal(db.get(Appointment, appointment_id), customer_id)

    def book_appointment(
        self,
        customer_id: int,
        starts_at: datetime,
        kind: str,
        clinic: str | None = None,
        *,
        doctor: str | None = None,
    ) -> ActionResult:
        starts_at = _local_naive(starts_at)
        try:
            return self._book(customer_id, starts_at, kind, clinic, doctor=doctor)
        except IntegrityError:
            # Another call took the slot between our check and insert: say so, offer others.
            return self._book(customer_id, starts_at, kind, clinic, just_taken=True, doctor=doctor)

    def _book(
        self,
        customer_id: int,
        starts_at: datetime,
        kind: str,
        clinic: str | None,
        just_taken: bool = False,
        doctor: str | None = None,
    ) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            if db.get(Customer, customer_id) is None:
                return _refused("unknown_customer", "I can't find your customer record.")
            found = _clinic_for(db, kind, clinic)
            if found is None:
                return _refused("unknown_kind", f"We don't offer {kind} appointments.")
            place, canonical = found
            _lock_clinic(db, place.id)
            existing = db.scalar(
                select(Appointment).where(
                    Appointment.customer_id == customer_id,
                    Appointment.starts_at == starts_at,
                    Appointment.status.in_(ACTIVE_APPOINTMENT_STATUSES),
                )
            )
            if existing is not None:
                info = _appointment_info(existing, db.get(Clinic, existing.clinic_id).name)
                return ActionResult(
                    ok=True,
                    already_done=True,
                    facts=facts_for_appointment(info),
                    message=f"You're already booked for a {info.kind} on "
                    f"{_when(starts_at)} at {info.clinic}.",
                )
            free = self._free(db, place, starts_at.date(), canonical, doctor=doctor)
            doctor = dict(free).get(starts_at)
            if doctor is None:
                return self._slot_taken(db, place, canonical, starts_at, just_taken=just_taken)
            row = Appointment(
                customer_id=customer_id,
                clinic_id=place.id,
                kind=canonical,
                doctor=doctor,
                starts_at=starts_at,
                minutes=int(place.kinds[canonical]),
                status="booked",
            )
            db.add(row)
            db.flush()
            info = _appointment_info(row, place.name)
            return ActionResult(
                ok=True,
                facts=facts_for_appointment(info),
                message=f"You're booked for a {canonical} with {doctor} on "
                f"{_when(starts_at)} at {place.name}.",
            )

    def move_appointment(
        self, appointment_id: int, new_starts_at: datetime, *, customer_id: int | None = None
    ) -> ActionResult:
        new_starts_at = _local_naive(new_starts_at)
        try:
            return self._move(appointment_id, new_starts_at, customer_id)
        except IntegrityError:  # another call took the new slot first, as when booking
            return self._move(appointment_id, new_starts_at, customer_id, just_taken=True)

    def _move(
        self,
        appointment_id: int,
        new_starts_at: datetime,
        customer_id: int | None,
        just_taken: bool = False,
    ) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            row = db.get(Appointment, appointment_id)
            if row is not None:
                _lock_clinic(db, row.clinic_id)
                db.refresh(row)  # read before the lock: another call may have changed it
            refusal = self._change_refusal(row, customer_id)
            if refusal is not None:
                return refusal
            place = db.get(Clinic, row.clinic_id)
            if row.starts_at == new_starts_at:
                info = _appointment_info(row, place.name)
                return ActionResult(
                    ok=True,
                    already_done=True,
                    facts=facts_for_appointment(info),
                    message=f"Your {row.kind} is already set for {_when(new_starts_at)}.",
                )
            free = dict(self._free(db, place, new_starts_at.date(), row.kind, ignore=row.id))
            if new_starts_at not in free:
                return self._slot_taken(
                    db, place, row.kind, new_starts_at, ignore=row.id, just_taken=just_taken
                )
            row.starts_at, row.doctor, row.status = new_starts_at, free[new_starts_at], "moved"
            info = _appointment_info(row, place.name)
            return ActionResult(
                ok=True,
                facts=facts_for_appointment(info),
                message=f"I've moved your {row.kind} to {_when(new_starts_at)} with {row.doctor}.",
            )

    def cancel_appointment(
        self, appointment_id: int, *, customer_id: int | None = None
    ) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            row = db.get(Appointment, appointment_id)
            if (
                row is not None
                and row.status == "cancelled"
                and customer_id in (None, row.customer_id)
            ):
                return ActionResult(
                    ok=True,
                    already_done=True,
                    facts={"appointment_id": str(row.id), "status": "cancelled"},
                    message=f"Your {row.kind} on {_when(row.starts_at)} is already cancelled.",
                )
            refusal = self._change_refusal(row, customer_id)
            if refusal is not None:
                return refusal
            row.status = "cancelled"
            return ActionResult(
                ok=True,
                facts={"appointment_id": str(row.id), "status": "cancelled"},
                message=f"I've cancelled your {row.kind} on {_when(row.starts_at)}.",
            )

    def _change_refusal(
        self, row: Appointment | None, customer_id: int | None
    ) -> ActionResult | None:
        if row is None or customer_id not in (None, row.customer_id) or row.status == "cancelled":
            return _refused("unknown_appointment", "I can't find that appointment.")
        if row.starts_at - self._now() < CHANGE_NOTICE:
            return _refused(
                "too_late",
                f"Your {row.kind} on {_when(row.starts_at)} is less "
                "than 24 hours away, so it can't be changed over the phone; the "
                "clinic's front desk can help.",
                appointment_id=str(row.id),
            )
        return None

    def _slot_taken(
        self,
        db: Session,
        place: Clinic,
        kind: str,
        wanted: datetime,
        ignore: int | None = None,
        just_taken: bool = False,
    ) -> ActionResult:
        options = [start for start, _ in self._free(db, place, wanted.date(), kind, ignore)]
        closest = sorted(options, key=lambda s: abs(s - wanted))[:3]
        nearest = [spoken_time(s) for s in sorted(closest)]
        offer = (
            f" The nearest free times that day are {_joined(nearest)}."
            if nearest
            else f" There are no free {kind} times that day."
        )
        why = (
            f"I'm sorry, {_when(wanted)} was just taken by another caller."
            if just_taken
            else f"{_when(wanted)} isn't available for a {kind} at {place.name}."
        )
        return _refused("slot_unavailable", f"{why}{offer}", alternatives=", ".join(nearest))

    def _free(
        self,
        db: Session,
        place: Clinic,
        day: date,
        kind: str,
        ignore: int | None = None,
        *,
        doctor: str | None = None,
    ) -> list[tuple[datetime, str]]:
        """(start, doctor) for every bookable start on `day`, earliest first; none on the
        public holidays the clinics close for, and none after 2 PM on the early-closing days."""
        hours = (place.hours or {}).get(day.strftime("%A").lower())
        if not hours or kind not in place.kinds or _holiday(day):
            return []
        opens, closes = (datetime.combine(day, time.fromisoformat(h)) for h in hours)
        if (day.month, day.day) in EARLY_CLOSING:
            closes = min(closes, datetime.combine(day, EARLY_CLOSING_TIME))
        length = timedelta(minutes=int(place.kinds[kind]))
        doctors = [
            d["name"]
            for d in place.doctors
            if kind in d.get("kinds", []) and doctor in (None, d["name"])
        ]
        busy = _busy(db, place.id, day, ignore)
        now, start, slots = self._now(), opens, []
        while start + length <= closes:
            free = next(
                (
                    d
                    for d in doctors
                    if not any(b[0] == d and b[1] < start + length and start < b[2] for b in busy)
                ),
                None,
            )
            if free and start > now:
                slots.append((start, free))
            start += timedelta(minutes=place.slot_minutes)
        return slots


def holiday_name(day: date) -> str | None:
    """The public holiday the business closes for on `day`, or None."""
    return _holiday(day)


def _holiday(day: date) -> str | None:
    """The name of a public holiday the clinics close for, or None."""
    import holidays

    name = holidays.US(years=day.year).get(day)
    return next((h for h in CLOSED_HOLIDAYS if name and name.startswith(h)), None)


def _lock_clinic(db: Session, clinic_id: int) -> None:
    """Check and book one at a time per clinic until this transaction ends: a no-op write takes
    the row lock on Postgres and the write lock on SQLite (where SELECT ... FOR UPDATE does
    nothing). The unique slot index only catches two bookings with the same start; this also
    keeps a long appointment from overlapping one booked a moment earlier at another start."""
    db.execute(
        update(Clinic).where(Clinic.id == clinic_id).values(slot_minutes=Clinic.slot_minutes)
    )


def _busy(
    db: Session, clinic_id: int, day: date, ignore: int | None
) -> list[tuple[str, datetime, datetime]]:
    """(doctor, start, end) of the active appointments at a clinic on one day."""
    first = datetime.combine(day, time.min)
    rows = db.scalars(
        select(Appointment).where(
            Appointment.clinic_id == clinic_id,
            Appointment.starts_at >= first,
            Appointment.starts_at < first + timedelta(days=1),
            Appointment.status.in_(ACTIVE_APPOINTMENT_STATUSES),
        )
    )
    return [
        (r.doctor, r.starts_at, r.starts_at + timedelta(minutes=r.minutes))
        for r in rows
        if r.id != ignore
    ]


def _clinic_for(db: Session, kind: str, name: str | None) -> tuple[Clinic, str] | None:
    """The first clinic (optionally matching `name`) that offers `kind`, and the kind's
    canonical spelling there. An exact name wins; otherwise callers leave out the qualifier
    ('a cleaning' for 'dental cleaning'), so a kind that ends with what they said matches."""
    said = kind_key(kind)
    places = [
        p
        for p in db.scalars(select(Clinic).order_by(Clinic.id))
        if not name or kind_key(name) in kind_key(p.name)
    ]
    for matches in (lambda k: kind_key(k) == said, lambda k: kind_key(k).endswith(said)):
        for place in places:
            canonical = next((k for k in place.kinds if said and matches(k)), None)
            if canonical:
                return place, canonical
    return None


def _choose_card(cards: list[Card], last4: str | None) -> Card | ActionResult:
    """The card a caller means, or a refusal saying why it isn't clear."""
    if not cards:
        return _refused("no_card", "I can't find a card on your accounts.")
    if last4:
        digits = re.sub(r"\D", "", last4)[-4:]
        match = next((c for c in cards if c.last4 == digits), None)
        return match or _refused(
            "unknown_card", f"I can't find a card ending {digits or last4} on your accounts."
        )
    active = [c for c in cards if c.status == "active"]
    if len(active) == 1:
        return active[0]
    if not active:  # everything is blocked already: report the latest block
        # SQLite returns naive timestamps and Postgres aware ones: compare them without zones.
        return max(cards, key=lambda c: (c.blocked_at or datetime.min).replace(tzinfo=None))
    endings = [c.last4 for c in active]
    return _refused(
        "which_card",
        f"You have {len(active)} active cards, ending "
        f"{_joined(endings)}. Which one should I block?",
        active_cards=", ".join(endings),
    )


def _return_exists(row: Return) -> ActionResult:
    started = spoken_date(row.created_at.date())
    refund = money(row.refund_cents)
    return ActionResult(
        ok=True,
        already_done=True,
        facts={
            "order_number": row.order_number,
            "return_status": row.status,
            "refund": refund,
            "return_started_on": started,
        },
        message=(
            f"A return for order {row.order_number} was already started on {started}; "
            f"its status is {row.status} and the refund is {refund}."
        ),
    )
