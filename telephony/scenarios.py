"""Scenario files: scripted calls with what must be true of each turn and of the whole call.

    name: order status, number read digit by digit
    caller: "+15551234567"
    today: 2026-12-07           # optional: the day the business is seeded relative to
    turns:                      # each turn: `say` (text), `wav` (a file) or `dtmf` (keys)
      - say: "Hi, where is my order four five two one?"
        expect:                 # optional, checked against the reply to this turn
          reply_contains: ["UPS", ["four five two one", "4521"]]   # a list inside = any of
          reply_not_contains: ["refund"]
          escalated: false      # handed to a person by the end of this turn
          offers: none          # the action the reply asks to confirm (or none)
          does: none            # the action carried out this turn (or none)
    expect:                     # optional, checked on the whole call
      reply_contains: ["UPS"]
      escalated: false
      db:                       # rows that must exist afterwards in the business tables
        - {table: returns, where: {order_number: "4521"}, count: 1}

Unknown keys are an error for that scenario (a typo under `expect:` would otherwise check
nothing). Checks read the call's recorded events, so the same checks serve a call made through
the real server with audio and a call made in text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
SCENARIO_KEYS = {"name", "caller", "today", "turns", "expect"}
TURN_KINDS = {"say", "wav", "dtmf"}
TURN_EXPECT_KEYS = {"reply_contains", "reply_not_contains", "escalated", "offers", "does"}
EXPECT_KEYS = {"reply_contains", "reply_not_contains", "escalated", "db"}
DB_CHECK_KEYS = {"table", "where", "count"}
ACTIONS = {
    "block_card",
    "start_return",
    "book_appointment",
    "move_appointment",
    "cancel_appointment",
    "none",
}


class ScenarioError(Exception):
    """A scenario file that cannot be run; the message is one line."""


@dataclass
class Scenario:
    name: str
    path: Path
    caller: str
    turns: list[dict[str, Any]]
    expect: dict[str, Any]
    today: date | None = None


@dataclass
class TurnRecord:
    """One caller turn as the call went: what was heard and understood, what was said."""

    caller: str = ""
    understood: dict[str, Any] = field(default_factory=dict)
    reply: str = ""
    escalated: bool = False


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, ValueError) as exc:  # ValueError: "today: 2026-02-30"
        raise ScenarioError(
            f"{path.name}: {exc} (today must be a real date, YYYY-MM-DD)"
            if isinstance(exc, ValueError)
            else f"{path}: {exc}"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise ScenarioError(f"{path}: a scenario needs a `turns` list")
    _no_unknown_keys(path, "the scenario", data, SCENARIO_KEYS)
    for number, turn in enumerate(data["turns"], 1):
        _check_turn(path, number, turn)
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise ScenarioError(f"{path}: `expect` must be a mapping")
    _no_unknown_keys(path, "expect", expect, EXPECT_KEYS)
    _check_lists(path, "expect", expect)
    for row in expect.get("db") or []:
        if not isinstance(row, dict):
            raise ScenarioError(f"{path}: each db check is a mapping with table and where")
        _no_unknown_keys(path, "a db check", row, DB_CHECK_KEYS)
    today = data.get("today")
    if today is not None and not isinstance(today, date):
        try:
            today = date.fromisoformat(str(today))
        except ValueError as exc:
            raise ScenarioError(f"{path.name}: today must be a date (YYYY-MM-DD)") from exc
    return Scenario(
        name=str(data.get("name", path.stem)),
        path=path,
        caller=str(data.get("caller", "+15550001111")),
        turns=data["turns"],
        expect=expect,
        today=today,
    )


def _check_turn(path: Path, number: int, turn: object) -> None:
    if not isinstance(turn, dict):
        raise ScenarioError(f"{path.name}: turn {number} must be a mapping")
    kinds = set(turn) & TURN_KINDS
    if len(kinds) != 1:
        raise ScenarioError(f"{path.name}: turn {number} has exactly one of say, wav, dtmf")
    _no_unknown_keys(path, f"turn {number}", turn, TURN_KINDS | {"expect"})
    expect = turn.get("expect") or {}
    if not isinstance(expect, dict):
        raise ScenarioError(f"{path.name}: turn {number}'s `expect` must be a mapping")
    _no_unknown_keys(path, f"turn {number}'s expect", expect, TURN_EXPECT_KEYS)
    _check_lists(path, f"turn {number}'s expect", expect)
    for key in ("offers", "does"):
        if key in expect and str(expect[key]) not in ACTIONS:
            raise ScenarioError(
                f"{path.name}: turn {number}: {key} must be one of {', '.join(sorted(ACTIONS))}"
            )


def _check_lists(path: Path, where: str, expect: dict) -> None:
    for key in ("reply_contains", "reply_not_contains"):
        if key in expect and not isinstance(expect[key], list):
            raise ScenarioError(f"{path.name}: {where}: {key} must be a list")


def _no_unknown_keys(path: Path, where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(map(str, set(data) - allowed))
    if unknown:
        raise ScenarioError(
            f"{path.name}: unknown key{'s' * (len(unknown) > 1)} in {where}: "
            f"{', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def scenario_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise ScenarioError(f"{directory}: no scenario files (*.yaml)")
    return files


def load_scenarios(directory: Path) -> list[Scenario]:
    """Every scenario in `directory`; the first broken one raises ScenarioError."""
    return [load_scenario(f) for f in scenario_files(directory)]


# --- the call as it went ----------------------------------------------------------------------


def turn_records(events: list[dict]) -> list[TurnRecord]:
    """The call's caller turns, each with what the agent said back (from the recorded events).

    A caller turn is one `understood` event; the words before it are what was heard, the agent
    turns after it (until the next caller turn) are its reply."""
    records: list[TurnRecord] = []
    heard: list[str] = []
    escalated = False
    for e in events:
        kind = e["type"]
        if kind == "caller_turn":
            heard.append(e.get("text", ""))
        elif kind == "keypad_entry":
            heard.append(f"(keypad) {e.get('digits', '')}")
        elif kind == "understood":
            records.append(TurnRecord(" ".join(heard), e, escalated=escalated))
            heard = []
        elif kind == "escalation":
            escalated = True
            if records:
                records[-1].escalated = True
        elif kind == "agent_turn" and records:
            records[-1].reply = f"{records[-1].reply} {e.get('text', '')}".strip()
    return records


def normalise(s: str) -> str:
    return re.sub(r"[^a-z0-9$.]+", " ", s.lower()).strip()


def _reply_checks(expect: dict, said: str) -> list[str]:
    reasons = []
    said = normalise(said)
    for item in expect.get("reply_contains", []):
        options = item if isinstance(item, list) else [item]
        if not any(normalise(str(o)) in said for o in options):
            reasons.append(f"reply lacks {' / '.join(map(str, options))!r}")
    for item in expect.get("reply_not_contains", []):
        if normalise(str(item)) in said:
            reasons.append(f"reply says {item!r}")
    return reasons


def check_turn(expect: dict, record: TurnRecord | None) -> list[str]:
    """Every way one turn fell short (empty: it passed)."""
    if not expect:
        return []
    if record is None:
        return ["the call has no reply to this turn"]
    reasons = _reply_checks(expect, record.reply)
    if "escalated" in expect and record.escalated != bool(expect["escalated"]):
        reasons.append("escalated" if record.escalated else "did not escalate")
    for key in ("offers", "does"):
        if key in expect:
            wanted = str(expect[key])
            got = record.understood.get(key) or "none"
            if got != wanted:
                reasons.append(f"{key} {got}, wanted {wanted}")
    return reasons


def unwanted_action(expect: dict, record: TurnRecord | None) -> bool:
    """Did the agent offer or take an action this turn that the scenario says it must not?"""
    if record is None:
        return False
    for key in ("offers", "does"):
        got = record.understood.get(key)
        if got and key in expect and str(expect[key]) != got:
            return True
    return False


def check_call(scenario: Scenario, events: list[dict], database_url: str) -> list[str]:
    """Every way the whole call fell short of the scenario's call-level expectations."""
    expect = scenario.expect
    said = " ".join(e.get("text", "") for e in events if e["type"] == "agent_turn")
    reasons = _reply_checks(expect, said)
    if "escalated" in expect:
        escalated = any(e["type"] == "escalation" for e in events)
        if escalated != bool(expect["escalated"]):
            reasons.append("escalated" if escalated else "did not escalate")
    for row in expect.get("db", []):
        reasons += _check_rows(row, database_url)
    return reasons


def _check_rows(row: dict, database_url: str) -> list[str]:
    table, where = row.get("table", ""), row.get("where") or {}
    if not IDENTIFIER.match(table) or not all(IDENTIFIER.match(k) for k in where):
        return [f"bad db check {row!r}"]
    clause = " and ".join(f"{k} = :{k}" for k in where) or "1=1"
    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            found = db.execute(
                text(f"select count(*) from {table} where {clause}"),
                {k: str(v) for k, v in where.items()},
            ).scalar_one()
    except Exception as exc:  # a missing table or column is the scenario's failure
        return [f"db check on {table} failed: {type(exc).__name__}"]
    finally:
        engine.dispose()
    wanted = row.get("count")
    if (wanted is None and found < 1) or (wanted is not None and found != int(wanted)):
        wanted_text = "some" if wanted is None else wanted  # not `or`: 0 is a real count
        return [f"{table} where {where}: {found} rows, wanted {wanted_text}"]
    return []
