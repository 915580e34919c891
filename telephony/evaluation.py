"""`callcentre eval`: scripted calls, checked turn by turn and call by call.

Two modes run the same scenario files (format: `telephony/scenarios.py`):

- audio (the default): each call goes through the real server and the simulator: `say:` turns
  are synthesised with the packaged voice, played as Twilio would, heard by Whisper;
- `--text`: each caller turn goes as text through the same understanding, dialogue state,
  business, escalation and reply path a call uses (`voice.call.text`), in seconds.

`--today YYYY-MM-DD` pins the day the business is seeded relative to and the agent's clock (a
scenario's own `today:` pins it for that scenario); `--data DIR` is the business every scenario
starts from. A scenario that cannot be loaded, or whose call fails, is reported as FAIL with
the reason and the others still run. The report gives the pass rate per turn and per call and
counts unwanted actions (an action offered or taken on a turn whose `offers`/`does` say
otherwise). `--verbose` prints each call as it went: what was heard, what was understood
(intent, act, values), and what the agent said, which is where a failure's cause shows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile as sf

from telephony.judging import (
    ScenarioResult,
    judge,
    reset_business,
    run_safely,
    unloadable,
)
from telephony.local_server import LocalServer
from telephony.scenarios import (
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_files,
)
from telephony.simulator import SimulationResult, simulate_call

if TYPE_CHECKING:
    from voice.engines.tts import HibariEngine


class CallerVoice:
    """Synthesises `say:` turns with the packaged voice, cached by text."""

    def __init__(self, cache: Path) -> None:
        self._cache = cache
        self._tts: HibariEngine | None = None  # loaded for the first sentence

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


async def run_audio_scenario(
    scenario: Scenario,
    server: LocalServer,
    voice: CallerVoice,
    data_dir: Path | None,
    today: date | None,
) -> ScenarioResult:
    started = time.monotonic()
    reset_business(server.database_url, data_dir, today)
    result: SimulationResult = await simulate_call(
        turn_sources(scenario, voice),
        url=server.media_url,
        settings=server.settings,
        caller=scenario.caller,
        transcribe=False,
    )
    events = await call_events(server.recordings, result.call_sid)
    judged = judge(scenario, events, server.database_url)
    judged.latencies_ms = [t.latency_ms for t in result.turns if t.latency_ms is not None]
    judged.seconds = time.monotonic() - started
    return judged


async def call_events(recordings: Path, call_sid: str, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(recordings.rglob(f"{call_sid}.jsonl"))
        if found and '"call_end"' in found[0].read_text():
            return [json.loads(line) for line in found[0].read_text().splitlines()]
        await asyncio.sleep(0.1)
    raise ScenarioError(f"call {call_sid} was never closed by the server")


def report(results: list[ScenarioResult]) -> str:
    width = max(len(r.scenario.name) for r in results)
    lines = [f"{'scenario':<{width}}  result  turns  reasons"]
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        checked = f"{r.turns_passed}/{r.turns_checked}" if r.turns_checked else "-"
        lines.append(
            f"{r.scenario.name:<{width}}  {verdict:<6}  {checked:<5}  {'; '.join(r.reasons)}"
        )
    passed = sum(r.passed for r in results)
    turns = sum(r.turns_checked for r in results)
    turns_ok = sum(r.turns_passed for r in results)
    unwanted = sum(r.unwanted_actions for r in results)
    lines.append(
        f"\n{passed} passed, {len(results) - passed} failed "
        f"({100 * passed / len(results):.0f} % of calls right)"
    )
    if turns:
        lines.append(
            f"{turns_ok} of {turns} checked turns right ({100 * turns_ok / turns:.0f} %)"
            f"; unwanted actions: {unwanted}"
        )
    return "\n".join(lines)


def _load_all(paths: list[Path]) -> tuple[dict[Path, ScenarioResult], list[Scenario]]:
    results: dict[Path, ScenarioResult] = {}
    runnable: list[Scenario] = []
    for path in paths:
        try:
            runnable.append(load_scenario(path))
        except ScenarioError as exc:
            results[path] = unloadable(path, str(exc))
    return results, runnable


async def evaluate(
    directory: Path, workdir: Path, data_dir: Path | None = None, today: date | None = None
) -> list[ScenarioResult]:
    """Run every scenario in `directory` through the real server, in file order; one failing
    never stops the others. Every file is loaded before the server starts: a broken one fails
    at once, and when no scenario can run no server is started. Scenarios pinned to different
    days get a server each (the agent's clock is the server's)."""
    paths = scenario_files(directory)
    results, runnable = _load_all(paths)
    voice = CallerVoice(workdir / "voices")
    for day in dict.fromkeys(today or s.today for s in runnable):
        env = {"AGENT_TODAY": day.isoformat()} if day else {}
        with LocalServer(workdir / f"server-{day or 'today'}", extra_env=env) as server:
            for scenario in [s for s in runnable if (today or s.today) == day]:
                results[scenario.path] = await run_safely(
                    scenario,
                    lambda s, server=server, day=day: run_audio_scenario(
                        s, server, voice, data_dir, day
                    ),
                )
    return [results[path] for path in paths]


async def evaluate_text(
    directory: Path, workdir: Path, data_dir: Path | None = None, today: date | None = None
) -> list[ScenarioResult]:
    """Run every scenario in `directory` as a text call, in this process (no server, no audio)."""
    from telephony.text_runner import TextRunner

    paths = scenario_files(directory)
    results, runnable = _load_all(paths)
    if runnable:
        runner = TextRunner(workdir, data_dir)
        try:
            for scenario in runnable:
                day = today or scenario.today
                results[scenario.path] = await run_safely(
                    scenario, lambda s, day=day: runner.run(s, day)
                )
        finally:
            runner.close()
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
    parser.add_argument(
        "--text",
        action="store_true",
        help="caller turns as text through the same brain (no STT/TTS): seconds",
    )
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="pin the agent's day and the seeded business to this date",
    )
    parser.add_argument("--verbose", action="store_true", help="print each call as it went")


def run(args: argparse.Namespace) -> int:
    data_dir = getattr(args, "data", None)
    if data_dir is not None and not Path(data_dir).is_dir():
        print(f"error: {data_dir}: no such business data folder", file=sys.stderr)
        return 2
    today = getattr(args, "today", None)
    if getattr(args, "text", False):  # the report is the output; the calls' logs go to stderr
        from voice.logs import configure_logging

        configure_logging("WARNING", as_json=False)
    try:
        with tempfile.TemporaryDirectory(prefix="callcentre-eval-") as tmp:
            work = evaluate_text if getattr(args, "text", False) else evaluate
            results = asyncio.run(work(args.scenario_dir, Path(tmp), data_dir, today))
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
