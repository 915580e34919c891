"""`callcentre score-escalation FILE.jsonl`: how well the agent hands over, on labelled lines.

Each line of the file is `{"text": ..., "label": "escalate" | "stay"}`. Every utterance is said
by a caller in a text call (the same understanding, sentiment and escalation policy a phone call
uses), once on a single turn and once on two turns in a row, and the call counts as escalated
when it was handed to a person. Precision and recall of "escalate" are printed for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from telephony.judging import reset_business
from voice.settings import Settings
from voice.store.calls import Store

UNKNOWN_CALLER = "+15559990000"


@dataclass
class Score:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    def add(self, wanted: bool, got: bool) -> None:
        if wanted and got:
            self.true_positive += 1
        elif got:
            self.false_positive += 1
        elif wanted:
            self.false_negative += 1
        else:
            self.true_negative += 1

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0


def load_lines(path: Path) -> list[tuple[str, bool]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = row["label"]
            if label not in ("escalate", "stay") or not isinstance(row["text"], str):
                raise ValueError("label must be escalate or stay, text a string")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name}:{number}: {exc}") from exc
        rows.append((row["text"], label == "escalate"))
    return rows


async def score(rows: list[tuple[str, bool]], workdir: Path) -> tuple[Score, Score]:
    from voice.call.text import TextCalls
    from voice.logs import configure_logging
    from voice.store.writer import get_writer

    configure_logging("WARNING", as_json=False)

    settings = Settings(
        _env_file=None,
        RECORDINGS_DIR=workdir / "calls",
        DATABASE_URL=f"sqlite:///{workdir / 'score.db'}",
    )
    store = Store(settings.database)
    reset_business(settings.database)
    calls = TextCalls(settings, store)
    once, twice = Score(), Score()
    try:
        for text, wanted in rows:
            for turns, tally in ((1, once), (2, twice)):
                call = calls.open(UNKNOWN_CALLER)
                for _ in range(turns):
                    if not call.ended:
                        await call.say(text)
                tally.add(wanted, call.session.escalated)
                call.close()
    finally:
        # The store's writes land on a background thread: wait for them before the database
        # file (a temporary directory) goes away.
        get_writer().flush(timeout=30.0)
        store.engine.dispose()
    return once, twice


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help='JSONL lines {"text": ..., "label": ...}')


def run(args: argparse.Namespace) -> int:
    try:
        rows = load_lines(args.file)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {args.file}: no lines", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="callcentre-score-") as tmp:
        once, twice = asyncio.run(score(rows, Path(tmp)))
    wanted = sum(w for _, w in rows)
    print(f"{len(rows)} utterances, {wanted} labelled escalate")
    print("said on      precision  recall  escalated  missed  false alarms")
    for name, s in (("one turn", once), ("two turns", twice)):
        print(
            f"{name:<12} {s.precision:9.3f}  {s.recall:6.3f}  {s.true_positive:9d}  "
            f"{s.false_negative:6d}  {s.false_positive:12d}"
        )
    return 0
