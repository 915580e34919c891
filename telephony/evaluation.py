"""`callcentre eval`: scripted calls through the real server and simulator, checked afterwards.

A scenario is a YAML file:

    name: order status, number read digit by digit
    caller: "+15551234567"
    turns:                      # each turn: `say` (synthesised), `wav` (a file) or `dtmf`
      - say: "Hi, where is my order four five two one?"
    expect:
      reply_contains: ["UPS", ["four five two one", "4521"]]   # a list inside = any of
      reply_not_contains: ["refund"]
      escalated: false
      db:                       # rows that must exist afterwards in the business tables
        - {table: returns, where: {order_number: "4521"}, count: 1}

Unknown keys are an error for that scenario (a typo under `expect:` would otherwise check
nothing). A scenario that cannot be loaded, or whose call fails, is reported as FAIL with the
reason and the others still run. `--data DIR` is the business every scenario starts from.

`--verbose` prints each call as it went: what Whisper heard, what the turn manager understood
(intent and values), and what the agent said, which is where a failure's cause shows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf
import yaml
from sqlalchemy import create_engine, text

from telephony.local_server import LocalServer
from telephony.simulator import SimulationResult, simulate_call
from voice.settings import Settings

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# The keys a scenario may use, where: anything else is a typo that would silently check less.
SCENARIO_KEYS = {"name", "caller", "turns", "expect"}
TURN_KINDS = {"say", "wav", "dtmf"}
EXPECT_KEYS = {"reply_contains", "reply_not_contains", "escalated", "db"}
DB_CHECK_KEYS = {"table", "where", "count"}


class ScenarioError(Exception):
    """A scenario file that cannot be run; the message is one line."""


@dataclass
class Scenario:
    name: str
    path: Path
    caller: str
    turns: list[dict[str, str]]
    expect: dict[str, Any]


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


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise ScenarioError(f"{path}: a scenario needs a `turns` list")
    _no_unknown_keys(path, "the scenario", data, SCENARIO_KEYS)
    for turn in data["turns"]:
        if not isinstance(turn, dict) or len(turn) != 1 or not set(turn) <= TURN_KINDS:
            raise ScenarioError(f"{path}: each turn has exactly one of say, wav, dtmf")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise ScenarioError(f"{path}: `expect` must be a mapping")
    _no_unknown_keys(path, "expect", expect, EXPECT_KEYS)
    for row in expect.get("db") or []:
        if not isinstance(row, dict):
            raise ScenarioError(f"{path}: each db check is a mapping with table and where")
        _no_unknown_keys(path, "a db check", row, DB_CHECK_KEYS)
    return Scenario(
        name=str(data.get("name", path.stem)),
        path=path,
        caller=str(data.get("caller", "+15550001111")),
        turns=data["turns"],
        expect=expect,
    )


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


def unloadable(path: Path, reason: str) -> ScenarioResult:
    """The FAIL of a scenario file that cannot be run, named after the file."""
    scenario = Scenario(name=path.stem, path=path, caller="", turns=[], expect={})
    return ScenarioResult(scenario, passed=False, reasons=[reason])


class CallerVoice:
    """Synthesises `say:` turns with the packaged voice, cached by text."""

    def __init__(self, cache: Path) -> None:
        self._cache = cache
        self._tts = None

    def wav_for(self, sentence: str) -> Path:
        path = self._cache / f"{hashlib.sha1(sentence.encode()).hexdigest()[:16]}.wav"
        if not path.exists():
            if self._tts is None:
                from voice.engines.tts import HibariEngine

                self._tts = HibariEngine()
            audio = self._tts.synthesize(sentence)
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, audio * 0.8 / max(1e-6, abs(audio).max()), self._tts.sample_rate)
        return path


def turn_sources(scenario: Scenario, voice: CallerVoice) -> list[str]:
    sources = []
    for turn in scenario.turns:
        if "say" in turn:
            sources.append(str(voice.wav_for(turn["say"])))
        elif "wav" in turn:
            wav = Path(turn["wav"])
            sources.append(str(wav if wav.is_absolute() else scenario.path.parent / wav))
        else:
            sources.append(f"dtmf:{turn['dtmf']}")
    return sources


def _normalise(s: str) -> str:
    return re.sub(r"[^a-z0-9$.]+", " ", s.lower()).strip()


def check(scenario: Scenario, events: list[dict], database_url: str) -> list[str]:
    """Every way the call fell short of the scenario's expectations (empty: passed)."""
    expect, reasons = scenario.expect, []
    said = _normalise(" ".join(e.get("text", "") for e in events if e["type"] == "agent_turn"))
    for item in expect.get("reply_contains", []):
        options = item if isinstance(item, list) else [item]
        if not any(_normalise(str(o)) in said for o in options):
            reasons.append(f"reply lacks {' / '.join(map(str, options))!r}")
    for item in expect.get("reply_not_contains", []):
        if _normalise(str(item)) in said:
            reasons.append(f"reply says {item!r}")
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


async def run_scenario(
    scenario: Scenario,
    server: LocalServer,
    settings: Settings,
    voice: CallerVoice,
    data_dir: Path | None = None,
) -> ScenarioResult:
    started = time.monotonic()
    reset_business(server.database_url, data_dir)
    result: SimulationResult = await simulate_call(
        turn_sources(scenario, voice),
        url=server.media_url,
        settings=settings,
        caller=scenario.caller,
        transcribe=False,
    )
    events = await call_events(server.recordings, result.call_sid)
    reasons = check(scenario, events, server.database_url)
    said = " | ".join(e.get("text", "") for e in events if e["type"] == "agent_turn")
    return ScenarioResult(
        scenario,
        not reasons,
        reasons,
        agent_text=said,
        transcript=call_transcript(events),
        events=events,
        seconds=time.monotonic() - started,
        latencies_ms=[t.latency_ms for t in result.turns if t.latency_ms is not None],
    )


async def run_safely(
    scenario: Scenario, server: LocalServer, voice: CallerVoice, data_dir: Path | None = None
) -> ScenarioResult:
    """Run one scenario; a call that fails (simulator, server, timeout) is its FAIL only."""
    try:
        return await run_scenario(scenario, server, server.settings, voice, data_dir)
    except Exception as exc:
        return ScenarioResult(
            scenario, passed=False, reasons=[f"call failed: {type(exc).__name__}: {exc}"]
        )


def reset_business(database_url: str, data_dir: Path | None = None) -> None:
    """Every scenario starts from the same business (`data_dir`, default the sample one)."""
    from voice.store import seeding

    engine = create_engine(database_url)
    try:
        seeding.seed(engine, data_dir or seeding.DEFAULT_DATA_DIR, replace=True)
    finally:
        engine.dispose()


async def call_events(recordings: Path, call_sid: str, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(recordings.rglob(f"{call_sid}.jsonl"))
        if found and '"call_end"' in found[0].read_text():
            return [json.loads(line) for line in found[0].read_text().splitlines()]
        await asyncio.sleep(0.1)
    raise ScenarioError(f"call {call_sid} was never closed by the server")


def call_transcript(events: list[dict]) -> list[str]:
    """The call as lines: what Whisper heard, what the turn manager understood, the replies.

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
            llm = ", llm" if e.get("llm") else ""
            lines.append(f"  -> {e.get('intent')} {e.get('values') or {}}{llm}")
        elif kind == "agent_turn":
            lines.append(f"agent:  {e.get('text', '')}")
        elif kind == "escalation":
            lines.append("  -> escalated")
    return lines


def report(results: list[ScenarioResult]) -> str:
    width = max(len(r.scenario.name) for r in results)
    lines = [f"{'scenario':<{width}}  result  reasons"]
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        lines.append(f"{r.scenario.name:<{width}}  {verdict:<6}  {'; '.join(r.reasons)}")
    passed = sum(r.passed for r in results)
    lines.append(
        f"\n{passed} passed, {len(results) - passed} failed "
        f"({100 * passed / len(results):.0f} % pass rate)"
    )
    return "\n".join(lines)


async def evaluate(
    directory: Path, workdir: Path, data_dir: Path | None = None
) -> list[ScenarioResult]:
    """Run every scenario in `directory`, in file order; one failing never stops the others.

    Every file is loaded before the server starts: a broken one fails at once, and when no
    scenario can run no server is started.
    """
    paths = scenario_files(directory)
    results: dict[Path, ScenarioResult] = {}
    runnable: list[Scenario] = []
    for path in paths:
        try:
            runnable.append(load_scenario(path))
        except ScenarioError as exc:
            results[path] = unloadable(path, str(exc))
    if runnable:
        voice = CallerVoice(workdir / "voices")
        with LocalServer(workdir / "server") as server:
            for scenario in runnable:
                results[scenario.path] = await run_safely(scenario, server, voice, data_dir)
    return [results[path] for path in paths]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from voice.store.seeding import DEFAULT_DATA_DIR

    parser.add_argument("scenario_dir", type=Path, help="folder of scenario YAML files")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="the business every scenario starts from (default: data/business)",
    )
    parser.add_argument("--verbose", action="store_true", help="print what the agent said")


def run(args: argparse.Namespace) -> int:
    data_dir = getattr(args, "data", None)
    if data_dir is not None and not Path(data_dir).is_dir():
        print(f"error: {data_dir}: no such business data folder", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="callcentre-eval-") as tmp:
            results = asyncio.run(evaluate(args.scenario_dir, Path(tmp), data_dir))
    except ScenarioError as exc:  # no scenario files at all
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # the local server did not start: its log's tail says why
        print(f"error: the local server did not start: {exc}", file=sys.stderr)
        return 2
    print(report(results))
    if args.verbose:
        for r in results:
            print(f"\n[{r.scenario.name}] {'PASS' if r.passed else 'FAIL'}")
            print("\n".join(f"  {line}" for line in r.transcript))
    return 0 if all(r.passed for r in results) else 1
