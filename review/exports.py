"""Exports: one call's transcript as JSON or text, and the (filtered) call list as CSV.

The caller's number leaves the server masked, as on the pages. CSV cells that a spreadsheet
would run as a formula (=, +, -, @ ...) are prefixed with a quote (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from review.formatting import local_time, mask_phone, precise_clock
from review.queries import CallDetail

CSV_COLUMNS = (
    "call_sid",
    "started_at",
    "ended_at",
    "caller_name",
    "caller",
    "duration_s",
    "turns",
    "outcome",
    "end_reason",
    "escalated",
    "escalation_rule",
    "escalation_reason",
    "min_sentiment",
    "median_latency_ms",
    "topics",
    "tags",
    "summary",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 200


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def transcript_json(call: CallDetail, events: list[dict[str, Any]], tags: list[str]) -> dict:
    meta = {
        k: v for k, v in asdict(call).items() if k not in ("turns", "recording_path", "events_path")
    }
    meta.update(started_at=_iso(call.started_at), ended_at=_iso(call.ended_at), tags=tags)
    return {"call": meta, "turns": [asdict(t) for t in call.turns], "events": events}


def transcript_text(call: CallDetail, zone: ZoneInfo) -> str:
    who = f"{call.caller_name} ({call.caller})" if call.caller_name else call.caller
    lines = [
        f"Call {call.call_sid}",
        f"Started: {local_time(call.started_at, zone, '%Y-%m-%d %H:%M:%S %Z')}",
        f"Caller: {who}",
        f"Outcome: {call.outcome or 'unknown'}",
    ]
    if call.escalated:
        lines.append(
            f"Escalated: {call.escalation_rule or 'unspecified'}: "
            f"{call.escalation_reason or 'no reason recorded'}"
        )
    if call.summary:
        lines.append(f"Summary: {call.summary}")
    lines.append("")
    for turn in call.turns:
        marks = [f"{turn.latency_ms:.0f} ms"] if turn.latency_ms is not None else []
        if turn.interrupted:
            marks.append("interrupted")
        if turn.sentiment_score is not None:
            marks.append(f"sentiment {turn.sentiment_score:+.2f}")
        suffix = f"  [{', '.join(marks)}]" if marks else ""
        lines.append(f"[{precise_clock(turn.start_s)}] {turn.role.title()}: {turn.text}{suffix}")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_row(record: dict[str, Any]) -> list[Any]:
    row = {
        **record,
        "caller": mask_phone(record["caller"]),
        "started_at": _iso(record["started_at"]),
        "ended_at": _iso(record["ended_at"]),
        "escalated": "yes" if record["escalated"] else "no",
        "tags": ", ".join(record["tags"]),
    }
    # The masked number is ours (digits, spaces, dots): its leading "+" is not a formula.
    return [row[c] if c == "caller" else _cell(row.get(c)) for c in CSV_COLUMNS]


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The CSV in chunks of rows, so a large export streams instead of filling memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    chunk = [line(list(CSV_COLUMNS))]
    for record in records:
        chunk.append(line(_csv_row(record)))
        if len(chunk) >= CHUNK_ROWS:  # a few KB per write, not one tiny write per row
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)
