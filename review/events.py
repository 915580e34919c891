"""A call's JSONL event log, read for the call page: barge-ins, the escalation, actions taken.

The log is written while the call runs, so a last line may be cut short; such lines, and
anything that is not an object with a "type", are skipped. Events are masked when written
(voice/store/recorder.py); they are masked again here, with the same function, for recordings
made before that (the call page and the JSON export show only what this returns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice.privacy import mask_value

MAX_BYTES = 20 * 1024 * 1024  # a pathological log must not exhaust the server
PLAIN = frozenset({"type", "t", "time", "call_sid", "stream_sid"})  # never masked
# Intents that are conversation, not something done for the caller.
CHATTER = {
    "",
    "greeting",
    "goodbye",
    "affirm",
    "deny",
    "correction",
    "unknown",
    "none",
    "smalltalk",
    "thanks",
    "repeat",
    "other",
}


@dataclass
class Action:
    t: float | None
    kind: str  # css class and icon: request, keypad, escalation, guard, silence, end, other
    label: str
    detail: str = ""


def read_events(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    events = []
    with path.open("rb") as handle:
        for raw in handle.read(MAX_BYTES).splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                events.append(mask_value(event, keep=PLAIN.__contains__))
    return events


def _time(event: dict[str, Any]) -> float | None:
    value = event.get("t")
    return float(value) if isinstance(value, int | float) else None


def barge_ins(events: list[dict[str, Any]]) -> list[float]:
    """When the caller talked over the agent (seconds on the recording's timeline)."""
    times = []
    for event in events:
        if event["type"] == "barge_in":
            start = event.get("caller_speech_start")
            at = float(start) if isinstance(start, int | float) else _time(event)
            if at is not None:
                times.append(at)
    return times


def escalation(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in events if e["type"] == "escalation"), None)


def _values(values: Any) -> str:
    if not isinstance(values, dict):
        return ""
    return ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in values.items() if v not in (None, "", [], {})
    )


def _action(event: dict[str, Any]) -> Action | None:
    kind, t = event["type"], _time(event)
    if kind == "understood" and str(event.get("intent", "")) not in CHATTER:
        return Action(
            t, "request", str(event["intent"]).replace("_", " "), _values(event.get("values"))
        )
    if kind == "keypad_entry":
        return Action(t, "keypad", "keypad entry", f"{len(str(event.get('digits', '')))} digits")
    if kind == "escalation":
        rule = str(event.get("rule", "")).replace("_", " ")
        return Action(t, "escalation", f"handed to a person ({rule})", str(event.get("reason", "")))
    if kind == "guard_rejected":
        return Action(
            t,
            "guard",
            "reply replaced by the fact check",
            "; ".join(map(str, event.get("problems") or [])),
        )
    if kind.startswith(("action", "tool")):  # business actions, however they get logged
        return Action(
            t,
            "request",
            kind.replace("_", " "),
            _values(event.get("result") or event.get("values")),
        )
    if kind == "call_end":
        return Action(t, "end", "call ended", str(event.get("reason", "")))
    return None


def actions(events: list[dict[str, Any]]) -> list[Action]:
    found = [_action(e) for e in events]
    return [a for a in found if a is not None]
