"""Templated replies vs the packaged LLM's wording, on the development dialogues (text mode).

Runs `callcentre eval data/dialogues --text` twice in this process: once with the templated
replies (the default) and once with LLM_COMPOSE_ANSWERS=true, where the packaged SmolLM2 words
every reply that may be worded (not confirmations, not the hand-over) around the plan's facts and
the fact guard checks it whole before it would be spoken. Prints pass rates, how many replies
the LLM's words were used for, and why the others fell back to the template.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/llm_replies.py [data/dialogues]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telephony.evaluation import evaluate_text
from voice.logs import configure_logging


def run(folder: Path, llm: bool) -> dict:
    os.environ["LLM_COMPOSE_ANSWERS"] = "true" if llm else "false"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(evaluate_text(folder, Path(tmp)))
    seconds = time.perf_counter() - started
    kinds = Counter(e["type"] for r in results for e in r.events)
    worded = sum(1 for r in results for e in r.events if e["type"] == "understood" and e.get("llm"))
    turns = sum(r.turns_checked for r in results)
    return {
        "calls": f"{sum(r.passed for r in results)}/{len(results)}",
        "turns": f"{sum(r.turns_passed for r in results)}/{turns}",
        "unwanted": sum(r.unwanted_actions for r in results),
        "to word": worded,
        "guard rejected": kinds["guard_rejected"],
        "timed out": kinds["llm_timeout"],
        "errors": kinds["llm_error"],
        "seconds": round(seconds),
    }


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/dialogues")
    configure_logging("WARNING", as_json=False)
    rows = {"templates": run(folder, False), "packaged LLM + guard": run(folder, True)}
    keys = list(next(iter(rows.values())))
    print("| replies | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
