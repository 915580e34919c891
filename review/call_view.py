"""One call arranged for its page: the transcript timeline with barge-ins and the escalation
point placed on it, and the numbers the player and charts need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from review import events as call_events
from review.queries import CallDetail, TurnView


@dataclass
class Escalation:
    turn_index: int | None  # the caller turn that tipped it (turns.index), when known
    t: float | None  # seconds on the recording
    rule: str
    reason: str


@dataclass
class TimelineItem:
    kind: str  # "turn" | "barge_in" | "escalation"
    t: float
    turn: TurnView | None = None


def _caller_turn_at(turns: list[TurnView], t: float) -> TurnView | None:
    """The last caller turn that started by `t`."""
    before = [x for x in turns if x.role == "caller" and x.start_s <= t + 0.05]
    return before[-1] if before else None


def _caller_turn_by_index(turns: list[TurnView], index: int) -> TurnView | None:
    """`escalation_turn` counts the caller's turns (0 = the first), not rows of `turns`."""
    callers = [x for x in turns if x.role == "caller"]
    return callers[min(index, len(callers) - 1)] if callers else None


def find_escalation(call: CallDetail, events: list[dict[str, Any]]) -> Escalation | None:
    event = call_events.escalation(events)
    if not call.escalated and event is None:
        return None
    event = event or {}
    t = event.get("t") if isinstance(event.get("t"), int | float) else None
    # The event's time is unambiguous; the column's turn number is the fallback.
    turn = _caller_turn_at(call.turns, t) if t is not None else None
    if turn is None and call.escalation_turn is not None:
        turn = _caller_turn_by_index(call.turns, call.escalation_turn)
    if t is None and turn is not None:
        t = turn.end_s
    return Escalation(
        turn.index if turn else None,
        t,
        call.escalation_rule or str(event.get("rule", "")),
        call.escalation_reason or str(event.get("reason", "")),
    )


def timeline(
    call: CallDetail, barge_ins: list[float], escalation: Escalation | None
) -> list[TimelineItem]:
    """Turns in order, with barge-in and escalation markers where they happened."""
    items = [TimelineItem("turn", t.start_s, t) for t in call.turns]
    items += [TimelineItem("barge_in", t) for t in barge_ins]
    if escalation is not None and escalation.t is not None:
        items.append(TimelineItem("escalation", escalation.t + 0.001))
    order = {"turn": 0, "barge_in": 1, "escalation": 2}
    return sorted(items, key=lambda item: (item.t, order[item.kind]))


def player_data(
    call: CallDetail, barge_ins: list[float], escalation: Escalation | None, urls: dict[str, str]
) -> dict[str, Any]:
    """What call.js needs, embedded in the page as JSON."""
    return {
        **urls,
        "duration": call.duration_s,
        "turns": [
            {
                "i": t.index,
                "role": t.role,
                "start": t.start_s,
                "end": t.end_s,
                "latency": t.latency_ms,
                "interrupted": t.interrupted,
                "score": t.sentiment_score,
                "label": t.sentiment_label,
                "p": t.escalation_probability,
            }
            for t in call.turns
        ],
        "bargeIns": barge_ins,
        "escalation": None
        if escalation is None
        else {
            "turn": escalation.turn_index,
            "t": escalation.t,
            "rule": escalation.rule,
            "reason": escalation.reason,
        },
    }
