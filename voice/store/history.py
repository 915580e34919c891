"""Who is calling: the customer behind a phone number, their open business, and what their last
calls were about, so the agent can greet them by name and not make them repeat themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from voice.business import Business
from voice.business.records import AppointmentInfo, OrderInfo
from voice.dialogue.saying import say_date, say_time
from voice.privacy import mask_text
from voice.store.identifiers import normalise_phone
from voice.store.rows import rows_changed
from voice.store.schema import Call

OUTCOMES = ("resolved", "escalated", "abandoned")
RECENT_CALLS = 3


@dataclass(frozen=True)
class PastCall:
    call_sid: str
    date: str  # "Tuesday, November 24"
    summary: str
    outcome: str
    topics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CallerProfile:
    phone: str
    name: str  # "" when the number belongs to no customer but has called before
    customer_id: int | None
    open_orders: list[OrderInfo]
    upcoming_appointments: list[AppointmentInfo]  # not cancelled
    recent_calls: list[PastCall]  # newest first
    greeting_hint: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name else ""


def _greeting(first_name: str, open_orders: list[OrderInfo], known: bool) -> str:
    """`known`: the number has called before (the last calls are history)."""
    if not first_name:
        return "Welcome back." if known else ""
    hello = f"Hi {first_name}, welcome back." if known else f"Hi {first_name}."
    if len(open_orders) == 1:  # one open order is by far the likeliest reason to call
        number = open_orders[0].number
        if known:
            return f"{hello} Are you calling about order {number}?"
        return f"Hi {first_name}, are you calling about order {number}?"
    return hello


def _past_call(row: Call) -> PastCall:
    return PastCall(
        call_sid=row.call_sid,
        date=say_date(row.started_at.date()),
        summary=row.summary,
        outcome=row.outcome,
        topics=[t.strip() for t in row.topics.split(",") if t.strip()],
    )


def as_context(profile: CallerProfile | None) -> str:
    """A few compact lines about the caller for the LLM's prompt ('' for an unknown caller)."""
    if profile is None:
        return ""
    who = f"{profile.name} (customer #{profile.customer_id})" if profile.name else "not a customer"
    lines = [f"Caller: {who}, phone {profile.phone}."]
    lines += [
        f"Open order: {_order_line(o)}" + (f" Tracking {o.tracking}." if o.tracking else "")
        for o in profile.open_orders
    ]
    lines += [
        f"Upcoming appointment #{a.id}: {a.kind} with {a.doctor} on "
        f"{say_date(a.starts_at)} at {say_time(a.starts_at)}, {a.clinic}."
        for a in profile.upcoming_appointments
    ]
    for call in profile.recent_calls:
        topics = f" Topics: {', '.join(call.topics)}." if call.topics else ""
        summary = call.summary or "no summary"
        lines.append(
            f"Previous call {call.date} ({call.outcome or 'unknown outcome'}): {summary}{topics}"
        )
    return "\n".join(lines)


def _order_line(order: OrderInfo) -> str:
    """'Order 4521 (Trail Running Shoes) shipped with UPS on Tuesday, March 3 and is due
    Saturday, March 7.'"""
    items = ", ".join(
        item["name"] if int(item.get("qty", 1)) == 1 else f"{item['qty']} x {item['name']}"
        for item in order.items
    )
    what = f"Order {order.number} ({items})"
    if order.status == "processing":
        due = f" and should arrive {say_date(order.eta)}" if order.eta else ""
        return f"{what} is being prepared{due}."
    if order.status == "shipped":
        sent = f" on {say_date(order.shipped_on)}" if order.shipped_on else ""
        due = f" and is due {say_date(order.eta)}" if order.eta else ""
        return f"{what} shipped with {order.carrier}{sent}{due}."
    if order.status == "delivered" and order.delivered_on:
        return f"{what} was delivered {say_date(order.delivered_on)}."
    return f"{what} is {order.status}."


class CallerHistory:
    """Read-only view of one caller across the business tables and past calls."""

    as_context = staticmethod(as_context)

    def __init__(self, engine: Engine, business: Business | None = None) -> None:
        self.engine = engine
        self.business = business or Business(engine)

    def profile(self, phone: str, *, exclude_call_sid: str | None = None) -> CallerProfile | None:
        """None for a number that is neither a customer nor a previous caller.

        `exclude_call_sid` leaves out the call in progress.
        """
        number = normalise_phone(phone) or phone
        customer = self.business.customer_by_phone(number)
        calls = self._recent_calls({phone, number}, exclude_call_sid)
        if customer is None and not calls:
            return None
        orders = self.business.open_orders(customer.id) if customer else []
        appointments = [
            a
            for a in (self.business.appointments_for(customer.id) if customer else [])
            if a.status != "cancelled"
        ]
        first = customer.first_name if customer else ""
        return CallerProfile(
            phone=number,
            name=customer.name if customer else "",
            customer_id=customer.id if customer else None,
            open_orders=orders,
            upcoming_appointments=appointments,
            recent_calls=calls,
            greeting_hint=_greeting(first, orders, bool(calls)),
        )

    def _recent_calls(self, phones: set[str], exclude: str | None) -> list[PastCall]:
        # A call still in progress (not ended, nothing recorded) is not history yet.
        query = (
            select(Call)
            .where(Call.caller.in_(phones), or_(Call.ended_at.is_not(None), Call.summary != ""))
            .order_by(Call.started_at.desc())
            .limit(RECENT_CALLS + 1)
        )
        with Session(self.engine) as db:
            rows = [r for r in db.scalars(query) if r.call_sid != exclude]
        return [_past_call(r) for r in rows[:RECENT_CALLS]]


def record_outcome(
    store_engine: Engine, call_sid: str, summary: str, outcome: str, topics: Sequence[str] | str
) -> bool:
    """Save what a call was about; False when there is no such call."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    joined = topics if isinstance(topics, str) else ", ".join(t.strip() for t in topics if t)
    with Session(store_engine) as db, db.begin():
        result = db.execute(
            update(Call)
            .where(Call.call_sid == call_sid)
            .values(summary=mask_text(summary.strip()), outcome=outcome, topics=joined)
        )
        return rows_changed(result) > 0
