"""Who a caller is: the customer behind a phone number."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice.business.line import Line
from voice.business.records import CustomerInfo, customer_info
from voice.store.identifiers import normalise_phone
from voice.store.schema import Customer


class Customers(Line):
    def customer_by_phone(self, phone: str) -> CustomerInfo | None:
        number = normalise_phone(phone)
        with Session(self.engine) as db:
            row = db.scalar(select(Customer).where(Customer.phone == number))
            return customer_info(row) if row else None

    def customer(self, customer_id: int) -> CustomerInfo | None:
        with Session(self.engine) as db:
            row = db.get(Customer, customer_id)
            return customer_info(row) if row else None
