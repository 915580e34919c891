"""Noisy lines, speakerphone echo and backchannels against the real server (issue 16).

Plays the set `bench/noisy_set.py` made through the simulator (`telephony/phone_line.py` adds
a noise bed under the whole call, or the agent's own voice coming back) against
`callcentre serve`, and reports:

* WER by noise type and SNR (each caller turn's stored transcript against its text; a stored
  turn that overlaps no caller speech is a phantom turn, counted apart);
* false barge-ins per minute of agent speech: a `clear` while the caller was not taking the
  turn (noise, the agent's echo, or a backchannel);
* missed barge-ins: a caller who talked over the agent for real and got no `clear` within
  `MISSED_AFTER_S`; and the latency of those that worked (speech onset to `clear`);
* voice-to-voice latency (end of caller speech to the agent's first audio).

    .venv/bin/python bench/noisy_set.py                       # once
    .venv/bin/python bench/noise.py                           # everything, today's defaults
    .venv/bin/python bench/noise.py --parts wer --conditions clean,white-10 --turns 4
    .venv/bin/python bench/noise.py --env ECHO_GATE=false     # a setting off, to compare
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from telephony.audio_files import FRAME_SAMPLES, SAMPLE_RATE, speech_bounds  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.phone_line import EchoPath, PhoneLine, load_bed  # noqa: E402
from telephony.simulator import SimulationResult, simulate_call  # noqa: E402

SET = ROOT / "bench" / "noisy-set"
MISSED_AFTER_S = 2.0  # a real barge-in that has not cleared the agent by then was missed
TAKING_TURN_S = 2.5  # a clear this soon after a real caller turn began is that turn's
LOUD_PEAK = 256  # agent audio above this (-42 dBFS) counts as agent speech
# The WER calls' turns: all but a hand-over request (it ends the agent's part of the call).
WER_TURNS = [
    "hello",
    "order_status",
    "refund",
    "address",
    "long_question",
    "card_lost",
    "wrong_item",
    "opening",
    "cancel",
    "balance",
    "appointment",
    "goodbye",
]
NUMBER_WORDS = {"4521": "four five two one", "45 21": "four five two one", "12": "twelve"}


def normalise(text: str) -> str:
    text = text.lower()
    for digits, words in NUMBER_WORDS.items():
        text = text.replace(digits, words)
    return " ".join(re.findall(r"[a-z']+", text.replace("-", " ")))


def wer(refs: list[str], hyps: list[str]) -> tuple[float, int]:
    """Word error rate over all turns together (jiwer), and the reference word count."""
    import jiwer

    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    if not pairs:
        return float("nan"), 0
    words = sum(len(r.split()) for r, _ in pairs)
    measures = jiwer.process_words([r for r, _ in pairs], [h or "" for _, h in pairs])
    errors = measures.substitutions + measures.deletions + measures.insertions
    return errors / words, words


@dataclass
class Tally:
    """What the calls of one condition added up to."""

    refs: list[str] = field(default_factory=list)
    hyps: list[str] = field(default_factory=list)
    phantom_turns: int = 0
    agent_speech_s: float = 0.0
    false_barge_ins: int = 0
    resumed: int = 0  # false ones after which the agent said again what was cut
    barge_ins: int = 0  # real ones attempted
    missed: int = 0
    barge_latency_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    calls: int = 0


def manifest() -> dict:
    path = SET / "manifest.json"
    if not path.exists():
        sys.exit(f"{path} is missing: run bench/noisy_set.py first")
    return json.loads(path.read_text())


def turn_file(data: dict, voice: str, name: str) -> Path:
    for item in data["turns"]:
        if item["voice"] == voice and item["turn"] == name and item["noise"] == "clean":
            return SET / item["file"]
    raise KeyError((voice, name))


def texts(data: dict) -> dict[str, str]:
    return {item["turn"]: item["text"] for item in data["turns"]}


def bed(condition: str) -> np.ndarray | None:
    if condition == "clean":
        return None
    noise, snr = condition.rsplit("-", 1)
    return load_bed(SET / "beds" / f"{noise}-{snr}dB.wav")


async def read_events(folder: Path, call_sid: str) -> list[dict]:
    for _ in range(100):
        files = list(folder.rglob(f"{call_sid}.jsonl"))
        if files and "call_end" in files[0].read_text():
            break
        await asyncio.sleep(0.1)
    files = list(folder.rglob(f"{call_sid}.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def agent_speech_s(result: SimulationResult) -> float:
    audio = result.agent_audio
    count = len(audio) // FRAME_SAMPLES
    frames = np.abs(audio[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES).astype(np.int32))
    return float((frames.max(axis=1) > LOUD_PEAK).sum() * FRAME_SAMPLES / SAMPLE_RATE)


def onset_s(path: Path) -> float:
    """Where the speech starts in a turn's WAV (the set is at 8 kHz)."""
    audio, _ = sf.read(str(path), dtype="int16")
    return speech_bounds(audio)[0]


def score_call(
    tally: Tally,
    result: SimulationResult,
    events: list[dict],
    refs: list[str],
    real: list[bool],
    onsets: list[float],
    barge_in: bool,
) -> None:
    """Add one call: transcripts matched to the caller's turns by time, clears to turns."""
    tally.calls += 1
    tally.agent_speech_s += agent_speech_s(result)
    stored = [e for e in events if e["type"] == "caller_turn"]
    used: set[int] = set()
    for turn, ref, is_real in zip(result.turns, refs, real, strict=False):
        lo, hi = turn.caller_start_s - 0.5, turn.caller_end_s + 1.0
        mine = [i for i, e in enumerate(stored) if e["start"] < hi and e["end"] > lo]
        used.update(mine)
        if is_real and not barge_in:
            tally.refs.append(normalise(ref))
            tally.hyps.append(normalise(" ".join(stored[i]["text"] for i in mine)))
        if turn.latency_ms is not None and not barge_in and is_real:
            tally.latency_ms.append(turn.latency_ms)
    tally.phantom_turns += len(stored) - len(used)
    starts = [t.caller_start_s + o for t, o in zip(result.turns, onsets, strict=False)]
    explained: set[int] = set()
    for start, is_real in zip(starts, real, strict=False):
        if not is_real:
            continue
        after = [
            i for i, c in enumerate(result.clears) if start - 0.3 <= c <= start + TAKING_TURN_S
        ]
        explained.update(after)
        if barge_in:
            tally.barge_ins += 1
            hit = [result.clears[i] for i in after if result.clears[i] <= start + MISSED_AFTER_S]
            if hit:
                tally.barge_latency_ms.append(round((hit[0] - start) * 1000, 1))
            else:
                tally.missed += 1
    tally.false_barge_ins += len(result.clears) - len(explained)
    tally.resumed += sum(e["type"] == "resumed" for e in events)


@dataclass
class Bench:
    server: LocalServer
    data: dict
    voices: list[str]
    turns: int
    log: list[dict] = field(default_factory=list)
    verbose: bool = False

    async def call(
        self, files: list[Path], line: PhoneLine | None, barge_in: bool = False
    ) -> tuple[SimulationResult, list[dict]]:
        result = await simulate_call(
            files,
            url=self.server.media_url,
            settings=self.server.settings,
            transcribe=False,
            barge_in=barge_in,
            line=line,
            reply_timeout_s=12.0,
        )
        events = await read_events(self.server.recordings, result.call_sid)
        return result, events

    async def wer_condition(self, condition: str, seed: int) -> Tally:
        tally, words = Tally(), texts(self.data)
        noise = bed(condition)
        for voice in self.voices:
            names = WER_TURNS[: self.turns]
            for chunk in (names[i : i + 4] for i in range(0, len(names), 4)):
                files = [turn_file(self.data, voice, n) for n in chunk]
                line = PhoneLine(noise=noise, seed=seed) if noise is not None else None
                result, events = await self.call(files, line)
                refs = [words[n] for n in chunk]
                score_call(
                    tally, result, events, refs, [True] * len(chunk), [0] * len(chunk), False
                )
                seed += 1
        return tally

    async def echo_condition(self, delay_ms: int, attenuation_db: int) -> Tally:
        """The agent's voice comes back; the caller says two things, waiting for each reply."""
        tally, words = Tally(), texts(self.data)
        chunk = ["hello", "long_question"]
        files = [turn_file(self.data, "natural", n) for n in chunk]
        line = PhoneLine(echo=EchoPath(delay_ms, attenuation_db))
        result, events = await self.call(files, line)
        refs = [words[n] for n in chunk]
        score_call(tally, result, events, refs, [True, True], [0, 0], False)
        return tally

    async def barge_condition(self, condition: str, echo_db: int | None, seed: int) -> Tally:
        """Three real interruptions, each 1 s into the agent's speech."""
        tally = Tally()
        files = [turn_file(self.data, "natural", n) for n in ("long_question",) * 3]
        noise = bed(condition)
        echo = EchoPath(150, echo_db) if echo_db is not None else None
        line = PhoneLine(noise=noise, echo=echo, seed=seed) if noise is not None or echo else None
        result, events = await self.call(files, line, barge_in=True)
        onsets = [onset_s(f) for f in files]
        score_call(tally, result, events, [""] * 3, [True] * 3, onsets, True)
        self.checks(f"barge {condition}", events)
        return tally

    async def backchannel_condition(self, word: str, condition: str, seed: int) -> Tally:
        """A backchannel 1 s into the greeting: the greeting must play on."""
        tally = Tally()
        files = [SET / "backchannels" / f"{word}.wav"]
        noise = bed(condition)
        line = PhoneLine(noise=noise, seed=seed) if noise is not None else None
        result, events = await self.call(files, line, barge_in=True)
        score_call(tally, result, events, [""], [False], [0.0], True)
        self.checks(f"{word} {condition}", events)
        return tally

    def checks(self, what: str, events: list[dict]) -> None:
        """With --verbose: what each barge-in check heard, how sure, how long it took."""
        if not self.verbose:
            return
        for e in events:
            if e["type"] in ("barge_in", "barge_in_ignored"):
                print(
                    f"    {what}: {e['type']} {e.get('text')!r} at {e.get('speech_s')} s of "
                    f"speech, log-prob {e.get('logprob')}, no-speech {e.get('no_speech')}, "
                    f"check {e.get('check_ms')} ms",
                    flush=True,
                )
            elif e["type"] in ("caller_turn", "backchannel", "doubtful_over_agent", "resumed"):
                # What became a turn, or was kept from becoming one, and when.
                span = f" {e['start']}-{e['end']} s" if "start" in e else f" at {e['t']} s"
                doubt = " (doubtful)" if e.get("doubtful") else ""
                print(f"    {what}: {e['type']} {e.get('text')!r}{span}{doubt}", flush=True)


def pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f} %"


def per_10_min(count: int, seconds: float) -> str:
    return "-" if seconds <= 0 else f"{count / seconds * 600:.1f}"


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def p95(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]:.0f}"


def wer_table(rows: dict[str, Tally]) -> str:
    lines = [
        "| line | words | WER | phantom turns | agent speech s | false barge-ins | per 10 min "
        "| v2v median ms | v2v p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in rows.items():
        rate, words = wer(t.refs, t.hyps)
        lines.append(
            f"| {name} | {words} | {pct(rate)} | {t.phantom_turns} | {t.agent_speech_s:.0f} | "
            f"{t.false_barge_ins} | {per_10_min(t.false_barge_ins, t.agent_speech_s)} | "
            f"{median(t.latency_ms)} | {p95(t.latency_ms)} |"
        )
    return "\n".join(lines)


def event_table(rows: dict[str, Tally], what: str) -> str:
    lines = [
        f"| {what} | calls | agent speech s | false barge-ins | per 10 min | resumed "
        "| phantom turns | real barge-ins | missed | barge-in ms median | p95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in rows.items():
        lines.append(
            f"| {name} | {t.calls} | {t.agent_speech_s:.0f} | {t.false_barge_ins} | "
            f"{per_10_min(t.false_barge_ins, t.agent_speech_s)} | {t.resumed} | "
            f"{t.phantom_turns} | "
            f"{t.barge_ins} | {t.missed} | {median(t.barge_latency_ms)} | "
            f"{p95(t.barge_latency_ms)} |"
        )
    return "\n".join(lines)


def merge(tallies: list[Tally]) -> Tally:
    total = Tally()
    for t in tallies:
        for name in ("refs", "hyps", "barge_latency_ms", "latency_ms"):
            getattr(total, name).extend(getattr(t, name))
        for name in (
            "phantom_turns",
            "agent_speech_s",
            "false_barge_ins",
            "resumed",
            "barge_ins",
            "missed",
            "calls",
        ):
            setattr(total, name, getattr(total, name) + getattr(t, name))
    return total


async def run(args: argparse.Namespace, bench: Bench) -> list[str]:
    out = []
    data = bench.data
    conditions = (
        args.conditions.split(",")
        if args.conditions
        else (["clean"] + [f"{n}-{s}" for n in data["noises"] for s in data["snrs_db"]])
    )
    if "wer" in args.parts:
        rows = {}
        for k, condition in enumerate(conditions):
            rows[condition] = await bench.wer_condition(condition, seed=100 * k)
            tally = rows[condition]
            print(f"wer {condition}: {wer(tally.refs, tally.hyps)}", flush=True)
            if args.verbose:
                for ref, hyp in zip(tally.refs, tally.hyps, strict=True):
                    print(f"    {ref!r} -> {hyp!r}")
        show(
            out,
            "WER, phantom turns, false barge-ins and latency by line (noise under the "
            f"whole call; voices: {', '.join(bench.voices)})\n\n{wer_table(rows)}",
        )
    if "echo" in args.parts:
        rows = {}
        pairs = [tuple(int(v) for v in p.split(":")) for p in args.echo.split(",") if p] or [
            (d, a) for d in data["echo"]["delays_ms"] for a in data["echo"]["attenuations_db"]
        ]
        for delay, attenuation in pairs:
            rows[f"{delay} ms, -{attenuation} dB"] = await bench.echo_condition(delay, attenuation)
            print(f"echo {delay} {attenuation} done", flush=True)
        by_atten = {
            f"all delays, -{a} dB": merge([t for k, t in rows.items() if k.endswith(f"-{a} dB")])
            for a in data["echo"]["attenuations_db"]
        }
        show(
            out,
            f"Speakerphone echo (the agent's voice back)\n\n{event_table(rows | by_atten, 'echo')}",
        )
    if "barge" in args.parts:
        rows = {}
        lines = [("clean", None), ("clean", 20), ("cafe-10", None), ("white-10", None)]
        if args.barge:
            wanted = args.barge.split(",")
            lines = [(c, e) for c, e in lines if (c if e is None else "echo") in wanted]
        for k, (condition, echo_db) in enumerate(lines):
            name = condition + ("" if echo_db is None else f" + echo -{echo_db} dB")
            rows[name] = merge(
                [
                    await bench.barge_condition(condition, echo_db, seed=k * 10 + r)
                    for r in range(args.repeats)
                ]
            )
            print(f"barge {name} done", flush=True)
        show(
            out,
            f"Real barge-ins (long question 1 s into the agent's speech)\n\n"
            f"{event_table(rows, 'line')}",
        )
    if "backchannel" in args.parts:
        rows = {}
        for condition in ("clean", "cafe-10"):
            tallies = [
                await bench.backchannel_condition(b["word"], condition, seed=k + 100 * r)
                for k, b in enumerate(data["backchannels"])
                for r in range(args.repeats)
            ]
            rows[condition] = merge(tallies)
            print(f"backchannel {condition} done", flush=True)
        show(
            out,
            f"Backchannels over the greeting ({len(data['backchannels'])} words, "
            f"{args.repeats} calls each)\n\n{event_table(rows, 'line')}",
        )
    return out


def show(out: list[str], table: str) -> None:
    """Keep a finished table, and print it now: a long run may be stopped before the end."""
    out.append(table)
    print(f"\n{table}\n", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="wer,echo,barge,backchannel")
    parser.add_argument("--conditions", default="", help="WER lines, e.g. clean,cafe-10")
    parser.add_argument("--voices", default="natural,espeak")
    parser.add_argument("--turns", type=int, default=len(WER_TURNS), help="per voice and line")
    parser.add_argument(
        "--repeats", type=int, default=2, help="calls per line for each barge-in and backchannel"
    )
    parser.add_argument("--echo", default="", help="DELAY_MS:ATTEN_DB,... (default: all 9)")
    parser.add_argument("--barge", default="", help="lines for real barge-ins, e.g. clean,echo")
    parser.add_argument(
        "--verbose", action="store_true", help="print each turn's transcript and barge-in check"
    )
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = dict(item.split("=", 1) for item in args.env)
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(Path(tmp) / "server", extra_env=extra).start()
        try:
            bench = Bench(
                server, manifest(), args.voices.split(","), args.turns, verbose=args.verbose
            )
            tables = asyncio.run(run(args, bench))
        finally:
            server.stop()
    load_after = os.getloadavg()
    print(f"\nmachine: {describe()}")
    print(
        f"settings: {extra or 'defaults'}; {time.monotonic() - started:.0f} s; "
        f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}"
    )
    for table in tables:
        print(f"\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
