"""`Business`: the one object callers hold, every business line's look-ups and actions.

Each line lives in its own module (customers, orders, banking, clinics) over the shared tables
in `voice.store.schema`; this class only puts them together. Every changing action is
idempotent: a caller who repeats a request, or a model that calls a tool twice, never creates a
second return, block or booking.
"""

from __future__ import annotations

from voice.business.banking import Banking
from voice.business.clinics import Clinics
from voice.business.customers import Customers
from voice.business.orders import Orders


class Business(Customers, Orders, Banking, Clinics):
    """Look-ups and idempotent actions over the business tables; one short transaction each.

    `Business(engine, now=...)`: `now` returns the clinics' local time; tests pass a fixed clock.
    """
