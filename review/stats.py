"""The dashboard's numbers for a date range: volume, outcomes, escalations and why, latency,
topics, and the calls that went worst.

Days are counted in the review time zone, so per-day grouping happens here in Python over the
range's rows (a few columns each) instead of in dialect-specific SQL.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from review.filters import OUTCOMES, day_bounds
from review.formatting import as_utc, mask_phone, topic_list
from review.queries import caller_names
from voice.store.schema import Call, Turn

PRESETS = (7, 30, 90, 365)


@dataclass
class LowCall:
    call_sid: str
    started_at: datetime
    caller: str
    caller_name: str
    min_sentiment: float
    outcome: str
    escalation_reason: str


@dataclass
class Dashboard:
    first: date
    last: date
    total: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    escalated: int = 0
    days: list[str] = field(default_factory=list)
    per_day: dict[str, list[int]] = field(default_factory=dict)  # outcome -> count per day
    by_rule: list[tuple[str, int]] = field(default_factory=list)
    reasons: list[tuple[str, str, int]] = field(default_factory=list)
    latency_median: float | None = None
    latency_p95: float | None = None
    latency_days: dict[str, list[float | None]] = field(default_factory=dict)
    topics: list[tuple[str, int]] = field(default_factory=list)
    lowest: list[LowCall] = field(default_factory=list)
    mean_duration_s: float | None = None

    @property
    def escalated_share(self) -> float:
        return self.escalated / self.total if self.total else 0.0


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    median, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95])
    return float(median), float(p95)


def _day_keys(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _volume(board: Dashboard, db: Connection, clauses: list, zone: ZoneInfo) -> dict[str, int]:
    """Counts per day and outcome, escalation rules, topics; returns each call's day index."""
    index = {day: i for i, day in enumerate(board.days)}
    day_of: dict[str, int] = {}
    per_day = {o: [0] * len(board.days) for o in (*OUTCOMES, "other")}
    rules: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    durations = []
    rows = db.execute(
        select(
            Call.call_sid,
            Call.started_at,
            Call.outcome,
            Call.escalated,
            Call.escalation_rule,
            Call.topics,
            Call.duration_s,
        ).where(*clauses)
    )
    for sid, started, outcome, escalated, rule, topic_text, duration in rows:
        day = index.get(as_utc(started).astimezone(zone).date().isoformat())
        key = outcome if outcome in OUTCOMES else "other"
        if day is not None:
            per_day[key][day] += 1
            day_of[sid] = day
        board.outcomes[key] = board.outcomes.get(key, 0) + 1
        board.total += 1
        if escalated:
            board.escalated += 1
            rules[rule or "unspecified"] += 1
        topics.update(topic_list(topic_text))
        if duration is not None:
            durations.append(duration)
    board.per_day = {k: v for k, v in per_day.items() if any(v) or k in OUTCOMES}
    board.by_rule = rules.most_common()
    board.topics = topics.most_common(10)
    board.mean_duration_s = sum(durations) / len(durations) if durations else None
    return day_of


def _reasons(board: Dashboard, db: Connection, clauses: list) -> None:
    count = func.count().label("n")
    rows = db.execute(
        select(Call.escalation_rule, Call.escalation_reason, count)
        .where(*clauses, Call.escalated.is_(True))
        .group_by(Call.escalation_rule, Call.escalation_reason)
        .order_by(count.desc())
        .limit(8)
    )
    board.reasons = [(rule or "unspecified", reason or "–", n) for rule, reason, n in rows]


def _latency(board: Dashboard, db: Connection, clauses: list, day_of: dict[str, int]) -> None:
    """Agent turn latencies: overall and per day (each turn takes its call's day, so no
    timestamp is parsed per turn)."""
    by_day: list[list[float]] = [[] for _ in board.days]
    every: list[float] = []
    rows = db.execute(
        select(Turn.call_sid, Turn.latency_ms)
        .join(Call, Turn.call_sid == Call.call_sid)
        .where(*clauses, Turn.role == "agent", Turn.latency_ms.is_not(None))
    )
    for sid, latency in rows:
        if latency is None:
            continue  # not asked for: the query keeps only replies with a latency
        every.append(latency)
        if sid in day_of:
            by_day[day_of[sid]].append(latency)
    board.latency_median, board.latency_p95 = _percentiles(every)
    daily = [_percentiles(values) for values in by_day]
    board.latency_days = {"median": [d[0] for d in daily], "p95": [d[1] for d in daily]}


def _lowest(board: Dashboard, db: Connection, clauses: list, limit: int = 8) -> None:
    """The calls that went worst: only those whose caller was negative at some point, so a
    quiet week lists a few bad calls (or none) instead of filling up with happy ones."""
    rows = db.execute(
        select(
            Call.call_sid,
            Call.started_at,
            Call.caller,
            Call.min_sentiment,
            Call.outcome,
            Call.escalation_reason,
        )
        .where(*clauses, Call.min_sentiment < 0)
        .order_by(Call.min_sentiment, Call.started_at.desc())
        .limit(limit)
    ).all()
    names = caller_names(db, (r.caller for r in rows))
    board.lowest = [
        LowCall(
            r.call_sid,
            as_utc(r.started_at),
            mask_phone(r.caller),
            names.get(r.caller, ""),
            r.min_sentiment,
            r.outcome or "",
            r.escalation_reason or "",
        )
        for r in rows
    ]


def dashboard(engine: Engine, first: date, last: date, zone: ZoneInfo) -> Dashboard:
    """Everything the dashboard shows, for calls started on days `first`..`last` (inclusive)."""
    board = Dashboard(first=first, last=last, days=_day_keys(first, last))
    start, end = day_bounds(first, last, zone)
    clauses = [Call.started_at >= start, Call.started_at < end]
    with engine.connect() as db:  # Core rows: no ORM bookkeeping on 10^5 latencies
        day_of = _volume(board, db, clauses, zone)
        _reasons(board, db, clauses)
        _latency(board, db, clauses, day_of)
        _lowest(board, db, clauses)
    return board
