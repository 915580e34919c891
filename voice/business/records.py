"""What the business layer hands back: frozen records, never ORM rows, so they outlive the
session and cross threads; and `ActionResult`, the outcome of an action or a check.

Nothing here is a sentence. Facts are typed values (dates as `date`/`datetime`, money as integer
cents with a currency, lists as lists) and a refusal carries a reason code; how any of it is
said to a caller is the dialogue's business (`voice.dialogue.saying` and the task modules).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from voice.store.schema import Account, Appointment, Clinic, Customer, Order


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
    items: list[dict[str, Any]]
    total_cents: int
    ordered_on: date
    shipped_on: date | None
    delivered_on: date | None
    eta: date | None
    carrier: str
    tracking: str
    return_status: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    kind: str  # checking|savings
    ending: str  # the account number's last four digits
    balance_cents: int
    currency: str


@dataclass(frozen=True)
class CardInfo:
    last4: str
    status: str  # active|blocked
    account_kind: str


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
class ActionResult:
    """The outcome of an action or a check.

    `reason` is a code: why it was refused (`ok` False: "unknown_order", "too_late", ...) or
    why nothing changed (`already_done`: "return_exists", "already_booked", ...); "" when the
    action was carried out. `facts` are typed values about the object acted on.
    """

    ok: bool
    already_done: bool = False
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def refused(reason: str, **facts: Any) -> ActionResult:
    return ActionResult(ok=False, reason=reason, facts=facts)


# --- money -----------------------------------------------------------------------------------


def to_cents(value: object) -> int:
    """Decimal strings or numbers to integer cents, without float rounding surprises."""
    return int((Decimal(str(value)) * 100).quantize(Decimal(1)))


def items_total_cents(items: Iterable[dict[str, Any]]) -> int:
    return sum(to_cents(item.get("price", 0)) * int(item.get("qty", 1)) for item in items)


# --- rows to records -------------------------------------------------------------------------


def customer_info(row: Customer) -> CustomerInfo:
    return CustomerInfo(id=row.id, name=row.name, phone=row.phone, email=row.email)


def order_info(row: Order, return_status: str | None) -> OrderInfo:
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


def account_info(row: Account) -> AccountInfo:
    return AccountInfo(
        kind=row.kind,
        ending=row.number[-4:],
        balance_cents=row.balance_cents,
        currency=row.currency,
    )


def clinic_info(row: Clinic) -> ClinicInfo:
    return ClinicInfo(
        name=row.name,
        address=row.address,
        phone=row.phone,
        doctors=tuple(d["name"] for d in row.doctors or []),
        kinds=tuple(row.kinds or {}),
    )


def appointment_info(row: Appointment, clinic: str) -> AppointmentInfo:
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


def appointment_facts(info: AppointmentInfo) -> dict[str, Any]:
    """An appointment as an action's facts."""
    return {
        "appointment_id": info.id,
        "kind": info.kind,
        "clinic": info.clinic,
        "doctor": info.doctor,
        "starts_at": info.starts_at,
        "minutes": info.minutes,
        "status": info.status,
    }
