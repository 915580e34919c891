"""The shop: orders and returns.

A return is started once per order (a unique column backs that up), only for a delivered order
inside the return window, and never for items that can't be taken back.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice.business.line import Line, utcnow
from voice.business.records import (
    ActionResult,
    OrderInfo,
    items_total_cents,
    order_info,
    refused,
)
from voice.store.identifiers import normalise_order_number
from voice.store.schema import Order, Return

OPEN_ORDER_STATUSES = ("processing", "shipped")
RETURN_WINDOW_DAYS = 30
REFUND_BUSINESS_DAYS = 5  # after the item is back, to the original payment method
CURRENCY = "USD"  # the shop's prices and refunds
# data/knowledge/returns.md: items that can't be taken back (health and hygiene, personal, food).
NOT_RETURNABLE = re.compile(
    r"\b(ear ?buds?|in-ear|toothbrush\w*|cosmetics?|make-?up|lipstick|swimwear|swimsuit|"
    r"bikini|gift cards?|engraved|personali[sz]ed|food|snacks?|chocolates?)\b",
    re.IGNORECASE,
)


class Orders(Line):
    # orders

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

    def _orders(self, condition: ColumnElement[bool]) -> list[OrderInfo]:
        query = (
            select(Order, Return.status)
            .outerjoin(Return, Return.order_number == Order.number)
            .where(condition)
            .order_by(Order.ordered_on.desc(), Order.number.desc())
        )
        with Session(self.engine) as db:
            return [order_info(row, status) for row, status in db.execute(query)]

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
                return refused("unknown_order", order_number=number)
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
                return refused("unknown_order", order_number=number)
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
                created_at=utcnow(),
            )
            db.add(created)
            db.flush()
            return ActionResult(
                ok=True,
                facts={
                    "order_number": number,
                    "return_status": "started",
                    "refund_cents": created.refund_cents,
                    "currency": CURRENCY,
                    "refund_business_days": REFUND_BUSINESS_DAYS,
                    "label_sent_by": "email",  # a prepaid return label
                },
            )

    def _return_refusal(self, order: Order) -> ActionResult | None:
        number = order.number
        excluded = [i["name"] for i in order.items or [] if NOT_RETURNABLE.search(i["name"])]
        if excluded and len(excluded) == len(order.items or []):
            return refused("not_returnable", order_number=number, items=excluded)
        if order.status == "cancelled":
            return refused("cancelled", order_number=number)
        if order.status != "delivered":
            return refused("not_delivered", order_number=number, status=order.status)
        delivered = order.delivered_on or order.ordered_on
        if (self._now().date() - delivered).days > RETURN_WINDOW_DAYS:
            return refused("outside_window", order_number=number, delivered_on=delivered)
        return None


def _return_exists(row: Return) -> ActionResult:
    facts: dict[str, Any] = {
        "order_number": row.order_number,
        "return_status": row.status,
        "refund_cents": row.refund_cents,
        "currency": CURRENCY,
        "return_started_on": row.created_at.date(),
    }
    return ActionResult(ok=True, already_done=True, reason="return_exists", facts=facts)
