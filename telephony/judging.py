"""Judging one scripted call, the same for both modes of `callcentre eval` (the phone call
through the simulator, `telephony/evaluation.py`, and the text call, `telephony/text_runner.py`):
its result, the per-turn and call-level checks, and the business every scenario starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine

from telephony.scenarios import Scenario, check_call, check_turn, turn_records, unwanted_action


@dataclass
class ScenarioResult:
    scenario: Scenario
    passed: bool
    reasons: list[str] = field(default_factory=list)
    agent_text: str = ""
    transcript: list[str] = field(default_factory=list)  # what was heard, understood and said
    events: list[dict] = field(default_factory=list)  # the call's recorded events, to re-check
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    turn_results: list[list[str]] = field(default_factory=list)  # each checked turn's reasons
    unwanted_actions: int = 0

    @property
    def turns_checked(self) -> int:
        return len(self.turn_results)

    @property
    def turns_passed(self) -> int:
        return sum(not r for r in self.turn_results)


def judge(scenario: Scenario, events: list[dict], database_url: str) -> ScenarioResult:
    """Per-turn and call-level checks of one finished call."""
    records = turn_records(events)
    turn_results, reasons, unwanted = [], [], 0
    for number, turn in enumerate(scenario.turns, 1):
        expect = turn.get("expect") or {}
        record = records[number - 1] if number - 1 < len(records) else None
        if expect:
            found = check_turn(expect, record)
            turn_results.append(found)
            reasons += [f"turn {number}: {r}" for r in found]
        unwanted += unwanted_action(expect, record)
    reasons += check_call(scenario, events, database_url)
    said = " | ".join(e.get("text", "") for e in events if e["type"] == "agent_turn")
    return ScenarioResult(
        scenario,
        not reasons,
        reasons,
        agent_text=said,
        transcript=call_transcript(events),
        events=events,
        turn_results=turn_results,
        unwanted_actions=unwanted,
    )


def unloadable(path: Path, reason: str) -> ScenarioResult:
    """The FAIL of a scenario file that cannot be run, named after the file."""
    scenario = Scenario(name=path.stem, path=path, caller="", turns=[], expect={})
    return ScenarioResult(scenario, passed=False, reasons=[reason])


async def run_safely(scenario: Scenario, run) -> ScenarioResult:
    """Run one scenario; a call that fails (simulator, server, timeout) is its FAIL only."""
    try:
        return await run(scenario)
    except Exception as exc:
        return ScenarioResult(
            scenario, passed=False, reasons=[f"call failed: {type(exc).__name__}: {exc}"]
        )


def reset_business(
    database_url: str, data_dir: Path | None = None, today: date | None = None
) -> None:
    """Every scenario starts from the same business (`data_dir`, default the sample one),
    seeded relative to `today`."""
    from voice.store import seeding

    engine = create_engine(database_url)
    try:
        seeding.seed(engine, data_dir or seeding.DEFAULT_DATA_DIR, replace=True, today=today)
    finally:
        engine.dispose()


def call_transcript(events: list[dict]) -> list[str]:
    """The call as lines: what was heard, what the turn manager understood, the replies.

    A failure's cause is usually visible here: a mishearing, a wrong intent, or a wrong reply.
    """
    lines = []
    for e in events:
        kind = e["type"]
        if kind == "caller_turn":
            lines.append(f"caller: {e.get('text', '')}")
        elif kind == "keypad_entry":
            lines.append(f"caller: (keypad) {e.get('digits', '')}")
        elif kind == "understood":
            extra = [f"act {e['act']}"] if e.get("act") else []
            extra += [f"p={e['confidence']}"] if e.get("confidence") else []
            extra += [f"offers {e['offers']}"] if e.get("offers") else []
            extra += [f"does {e['does']}"] if e.get("does") else []
            extra += ["llm"] if e.get("llm") else []
            lines.append(f"  -> {e.get('intent')} {e.get('values') or {}} {', '.join(extra)}")
        elif kind == "agent_turn":
            lines.append(f"agent:  {e.get('text', '')}")
        elif kind == "escalation":
            lines.append(f"  -> escalated ({e.get('rule')})")
    return lines
