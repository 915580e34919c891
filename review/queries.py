"""Reading calls for the pages: the filtered, paginated list and one call in full.

Results are plain dataclasses, never ORM objects, so templates and exports cannot trigger lazy
loads after the session closed. Only the columns a page shows are selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from review.filters import CallFilters, where
from review.formatting import as_utc, mask_phone, topic_list
from review.search import TranscriptSearch, highlight
from voice.store.schema import Call, CallTag, Customer, Turn

LIST_COLUMNS = (
    Call.call_sid,
    Call.started_at,
    Call.caller,
    Call.duration_s,
    Call.turns,
    Call.outcome,
    Call.escalated,
    Call.min_sentiment,
    Call.median_latency_ms,
)
EXPORT_COLUMNS = (
    *LIST_COLUMNS,
    Call.ended_at,
    Call.end_reason,
    Call.escalation_rule,
    Call.escalation_reason,
    Call.topics,
    Call.summary,
)


@dataclass
class CallRow:
    call_sid: str
    started_at: datetime
    caller: str  # masked
    caller_name: str
    duration_s: float | None
    turns: int
    outcome: str
    escalated: bool
    min_sentiment: float | None
    median_latency_ms: float | None
    tags: list[str] = field(default_factory=list)
    snippet: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class CallPage:
    rows: list[CallRow]
    total: int
    page: int
    pages: int


@dataclass
class TurnView:
    index: int
    role: str
    text: str
    start_s: float
    end_s: float
    latency_ms: float | None
    interrupted: bool
    sentiment_label: str
    sentiment_score: float | None
    escalation_probability: float | None
    supervisor: str = ""  # a manager's sentence the agent said (the live console)


@dataclass
class CallDetail:
    call_sid: str
    started_at: datetime
    ended_at: datetime | None
    caller: str  # masked
    caller_name: str
    duration_s: float | None
    turn_count: int
    end_reason: str
    outcome: str
    summary: str
    topics: list[str]
    escalated: bool
    escalation_rule: str
    escalation_reason: str
    escalation_turn: int | None
    min_sentiment: float | None
    median_latency_ms: float | None
    recording_path: str
    events_path: str
    turns: list[TurnView]


def caller_names(db: Session | Connection, numbers: Iterable[str]) -> dict[str, str]:
    """Customer names for many numbers in one query (Business.customer_by_phone, batched)."""
    wanted = {n for n in numbers if n}
    if not wanted:
        return {}
    rows = db.execute(select(Customer.phone, Customer.name).where(Customer.phone.in_(wanted)))
    return {phone: name for phone, name in rows}


def _tags_for(db: Session, sids: Sequence[str]) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for sid, tag in db.execute(
        select(CallTag.call_sid, CallTag.tag)
        .where(CallTag.call_sid.in_(sids))
        .order_by(CallTag.tag)
    ):
        tags.setdefault(sid, []).append(tag)
    return tags


def _snippets(db: Session, sids: Sequence[str], terms: Sequence[str]) -> dict[str, list]:
    """The first transcript line of each call that shows a search term, highlighted."""
    found: dict[str, list] = {}
    rows = db.execute(
        select(Turn.call_sid, Turn.text)
        .where(Turn.call_sid.in_(sids))
        .order_by(Turn.call_sid, Turn.index)
    )
    for sid, text in rows:
        if sid not in found:
            pieces = highlight(text, terms)
            if pieces:
                found[sid] = pieces
    return found


def _rows(db: Session, records: Sequence, terms: Sequence[str]) -> list[CallRow]:
    names = caller_names(db, (r.caller for r in records))
    sids = [r.call_sid for r in records]
    tags = _tags_for(db, sids)
    snippets = _snippets(db, sids, terms) if terms and sids else {}
    return [
        CallRow(
            call_sid=r.call_sid,
            started_at=as_utc(r.started_at),
            caller=mask_phone(r.caller),
            caller_name=names.get(r.caller, ""),
            duration_s=r.duration_s,
            turns=r.turns or 0,
            outcome=r.outcome or "",
            escalated=bool(r.escalated),
            min_sentiment=r.min_sentiment,
            median_latency_ms=r.median_latency_ms,
            tags=tags.get(r.call_sid, []),
            snippet=snippets.get(r.call_sid, []),
        )
        for r in records
    ]


def list_calls(
    engine: Engine,
    filters: CallFilters,
    search: TranscriptSearch,
    zone: ZoneInfo,
    page: int,
    per_page: int,
) -> CallPage:
    """One page of calls, newest first, with the total that match."""
    if filters.terms:
        search.sync(engine)
    clauses = where(filters, zone, search)
    with Session(engine) as db:
        total = db.scalar(select(func.count()).select_from(Call).where(*clauses)) or 0
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        records = db.execute(
            select(*LIST_COLUMNS)
            .where(*clauses)
            .order_by(Call.started_at.desc(), Call.call_sid.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        return CallPage(_rows(db, records, filters.terms), total, page, pages)


def iter_calls(
    engine: Engine, filters: CallFilters, search: TranscriptSearch, zone: ZoneInfo, batch: int = 500
) -> Iterator[dict]:
    """Every matching call with the export's columns, newest first, read in batches (keyset
    pagination: stable while new calls arrive, and no deep OFFSET)."""
    if filters.terms:
        search.sync(engine)
    clauses = where(filters, zone, search)
    last: tuple | None = None
    while True:
        # The plain `<=` lets the database walk the started_at index; the OR breaks ties.
        after = (
            []
            if last is None
            else [
                Call.started_at <= last[0],
                or_(
                    Call.started_at < last[0],
                    and_(Call.started_at == last[0], Call.call_sid < last[1]),
                ),
            ]
        )
        with Session(engine) as db:
            records = db.execute(
                select(*EXPORT_COLUMNS)
                .where(*clauses, *after)
                .order_by(Call.started_at.desc(), Call.call_sid.desc())
                .limit(batch)
            ).all()
            names = caller_names(db, (r.caller for r in records))
            tags = _tags_for(db, [r.call_sid for r in records])
        for r in records:
            yield {
                **r._asdict(),
                "started_at": as_utc(r.started_at),
                "ended_at": as_utc(r.ended_at),
                "caller_name": names.get(r.caller, ""),
                "tags": tags.get(r.call_sid, []),
            }
        if len(records) < batch:
            return
        last = (records[-1].started_at, records[-1].call_sid)


def get_call(engine: Engine, call_sid: str) -> CallDetail | None:
    with Session(engine) as db:
        call = db.get(Call, call_sid)
        if call is None:
            return None
        turns = [
            TurnView(
                t.index,
                t.role,
                t.text,
                t.start_s,
                t.end_s,
                t.latency_ms,
                bool(t.interrupted),
                t.sentiment_label or "",
                t.sentiment_score,
                t.escalation_probability,
                t.supervisor or "",
            )
            for t in db.scalars(select(Turn).where(Turn.call_sid == call_sid).order_by(Turn.index))
        ]
        name = caller_names(db, [call.caller]).get(call.caller, "")
        return CallDetail(
            call_sid=call.call_sid,
            started_at=as_utc(call.started_at),
            ended_at=as_utc(call.ended_at),
            caller=mask_phone(call.caller),
            caller_name=name,
            duration_s=call.duration_s,
            turn_count=call.turns or 0,
            end_reason=call.end_reason,
            outcome=call.outcome,
            summary=call.summary,
            topics=topic_list(call.topics),
            escalated=bool(call.escalated),
            escalation_rule=call.escalation_rule,
            escalation_reason=call.escalation_reason,
            escalation_turn=call.escalation_turn,
            min_sentiment=call.min_sentiment,
            median_latency_ms=call.median_latency_ms,
            recording_path=call.recording_path,
            events_path=call.events_path,
            turns=turns,
        )
