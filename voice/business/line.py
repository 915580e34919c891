"""What every business line shares: the database and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from voice.store.schema import create_tables


class Line:
    """One business line's look-ups and actions over the business tables; one short transaction
    each. `now` returns the clinics' local time; tests pass a fixed clock."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = datetime.now) -> None:
        self.engine = engine
        self._now = now
        create_tables(engine)

    def now(self) -> datetime:
        """The clinics' local time (a fixed clock in tests and rehearsals)."""
        return self._now()


def utcnow() -> datetime:
    """For audit timestamps (`created_at`, `blocked_at`)."""
    return datetime.now(UTC)
