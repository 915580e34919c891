"""The call list's filters: parsed leniently from a query string, turned into WHERE clauses.

A value that does not parse is dropped rather than answered with an error page: the list then
shows every call the other filters allow, and the form shows what is in effect. A date that
parses but lies outside FIRST_DAY..LAST_DAY (`?to=9999-12-31`, `?from=0001-01-05`) is answered
with 400 and says so: a day past 9999-12-31 or before year 1 cannot be computed (it was a 500,
and a CSV cut off mid-stream), and no call is recorded outside those years anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement

from review.search import TranscriptSearch, parse_terms
from voice.store.identifiers import normalise_phone
from voice.store.schema import Call, CallTag

OUTCOMES = ("resolved", "escalated", "abandoned")
TAG_PATTERN = re.compile(r"[^a-z0-9_-]+")


def clean_tag(raw: str) -> str:
    """'Needs Coaching!' -> 'needs-coaching' (lower case, at most 32 characters)."""
    return TAG_PATTERN.sub("-", (raw or "").strip().lower()).strip("-")[:32]


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


class FilterError(ValueError):
    """A filter the review pages answer with 400; the message says what is allowed."""


def parse_day(value: str | None) -> date | None:
    """A day from `YYYY-MM-DD`; None when empty or unreadable; FilterError when out of range."""
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise FilterError(
            f"Dates must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}, "
            f"not {day.isoformat()}."
        )
    return day


def _yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get((value or "").lower())


@dataclass(frozen=True)
class CallFilters:
    date_from: date | None = None
    date_to: date | None = None
    outcome: str = ""
    escalated: bool | None = None
    caller: str = ""
    tag: str = ""
    q: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> CallFilters:
        outcome = (params.get("outcome") or "").lower()
        return cls(
            date_from=parse_day(params.get("from")),
            date_to=parse_day(params.get("to")),
            outcome=outcome if outcome in OUTCOMES else "",
            escalated=_yes_no(params.get("escalated")),
            caller=(params.get("caller") or "").strip()[:32],
            tag=clean_tag(params.get("tag") or ""),
            q=(params.get("q") or "").strip()[:200],
        )

    def params(self) -> dict[str, str]:
        """The filters as query parameters (only those set)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "outcome": self.outcome,
            "escalated": "" if self.escalated is None else ("yes" if self.escalated else "no"),
            "caller": self.caller,
            "tag": self.tag,
            "q": self.q,
        }
        return {k: v for k, v in values.items() if v}

    def query_string(self, **extra: str | int) -> str:
        return urlencode({**self.params(), **{k: str(v) for k, v in extra.items()}})

    @property
    def active(self) -> bool:
        return bool(self.params())

    @property
    def terms(self) -> list[str]:
        return parse_terms(self.q)


def day_bounds(
    first: date | None, last: date | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """[start of `first`, start of the day after `last`) in `zone`, as UTC instants."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)

    return (
        midnight(first) if first else None,
        midnight(last + timedelta(days=1)) if last else None,
    )


def caller_clause(text: str) -> ColumnElement[bool] | None:
    """A whole number matches exactly (indexed); a fragment matches anywhere in the number."""
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    number = normalise_phone(text)
    if 11 <= len(number) - 1 <= 15 and (text.strip().startswith("+") or len(digits) >= 10):
        return Call.caller == number
    return Call.caller.like(f"%{digits}%")


def where(
    filters: CallFilters, zone: ZoneInfo, search: TranscriptSearch
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool] | None] = []
    start, end = day_bounds(filters.date_from, filters.date_to, zone)
    if start is not None:
        clauses.append(Call.started_at >= start)
    if end is not None:
        clauses.append(Call.started_at < end)
    if filters.outcome:
        clauses.append(Call.outcome == filters.outcome)
    if filters.escalated is not None:
        clauses.append(Call.escalated == filters.escalated)
    if filters.caller:
        clauses.append(caller_clause(filters.caller))
    if filters.tag:
        clauses.append(
            Call.call_sid.in_(select(CallTag.call_sid).where(CallTag.tag == filters.tag))
        )
    if filters.terms:
        clauses.append(search.condition(filters.terms))
    return [c for c in clauses if c is not None]
