"""The developer's text tools, run as a developer runs them (a subprocess of the real CLI):

- `callcentre chat`: type a call, read the agent's replies (same brain as a phone call);
- `callcentre score-escalation FILE.jsonl`: precision/recall of handing over, each utterance
  said on one turn and on two turns in a row.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def callcentre(*args: str, stdin: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI of this checkout (not whatever `callcentre` is installed)."""
    return subprocess.run(
        [sys.executable, "-m", "telephony.cli", *args],
        cwd=ROOT,
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def replies(out: str) -> list[str]:
    return [
        line.removeprefix("agent:").strip()
        for line in out.splitlines()
        if line.startswith("agent:")
    ]


# -- chat ------------------------------------------------------------------------------------


def test_chat_answers_a_balance_then_says_goodbye():
    done = callcentre(
        "chat", "--today", "2026-12-07", "--verbose",
        stdin="How much have I got in my checking account?\nBrilliant, that's all, bye now.\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    greeting, balance, goodbye = replies(done.stdout)
    assert "Maria" in greeting  # the default caller is a known customer
    assert "$1,045.32" in balance and "checking" in balance
    assert "Goodbye" in goodbye
    assert "[account_balance, act request" in done.stdout  # --verbose: what was understood


def test_chat_hands_a_stranger_over_on_keypad_zero():
    done = callcentre(
        "chat", "--caller", "+15559870000", "--today", "2026-12-07",
        stdin="I'm after an update on a delivery.\n#4521#\n#0\nthis line is never read\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    _greeting, asked, status, handover = replies(done.stdout)
    assert "colleague" in handover
    assert "order number" in asked
    assert "4521" in status and "Thursday, December 10" in status and "UPS" not in status
    assert "(handed over to a person)" in done.stdout
    assert "never read" not in done.stdout


def test_chat_pins_the_day_it_is_told():
    said = "Could I book a check-up for tomorrow?\n"
    monday = replies(callcentre("chat", "--today", "2026-12-07", stdin=said).stdout)
    tuesday = replies(callcentre("chat", "--today", "2026-12-08", stdin=said).stdout)
    assert "Tuesday, December 8" in monday[1]
    assert "Wednesday, December 9" in tuesday[1]


def test_chat_with_a_missing_business_folder_is_one_line_and_exit_2(tmp_path: Path):
    done = callcentre("chat", "--data", str(tmp_path / "nowhere"), stdin="hello\n", timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "nowhere" in done.stderr


# -- score-escalation ------------------------------------------------------------------------

LABELLED = [
    ("Can I speak to an actual person please?", "escalate"),
    ("Put me through to your supervisor, right now.", "escalate"),
    ("Where has my parcel got to?", "stay"),
    ("Thanks, that was really helpful.", "stay"),
    ("Hmm, okay, and what time do you open tomorrow?", "stay"),
]


def test_score_escalation_prints_precision_and_recall_for_one_and_two_turns(tmp_path: Path):
    import json

    path = tmp_path / "labelled.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in LABELLED) + "\n"
    )  # a trailing blank line is fine
    done = callcentre("score-escalation", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "5 utterances, 2 labelled escalate"
    assert re.match(r"said on\s+precision\s+recall\s+escalated\s+missed\s+false alarms", lines[1])
    rows = {}
    for line in lines[2:]:
        found = re.match(
            r"(one turn|two turns)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)$", line
        )
        assert found, line
        rows[found.group(1)] = tuple(found.groups()[1:])
    # two plain requests for a person are handed over; calm questions and thanks are not
    assert rows == {
        "one turn": ("1.000", "1.000", "2", "0", "0"),
        "two turns": ("1.000", "1.000", "2", "0", "0"),
    }


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"text": "hello", "label": "maybe"}\n', "bad.jsonl:1: label must be escalate or stay"),
        ('{"text": "fine", "label": "stay"}\nnot json at all\n', "bad.jsonl:2:"),
        ('{"label": "stay"}\n', "bad.jsonl:1:"),
        ('["a list"]\n', "bad.jsonl:1:"),
        ('{"text": 42, "label": "stay"}\n', "bad.jsonl:1:"),
        ("\n\n", "no lines"),
        (b"\xff\xfe\x00not utf-8", "utf-8"),
    ],
)
def test_score_escalation_rejects_a_bad_file_with_one_line_and_exit_2(tmp_path, body, says):
    path = tmp_path / "bad.jsonl"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    done = callcentre("score-escalation", str(path), timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    error = done.stderr.strip()
    assert error.startswith("error: ") and "\n" not in error and says in error
    assert "Traceback" not in done.stderr


def test_score_escalation_on_a_missing_file_is_exit_2(tmp_path: Path):
    done = callcentre("score-escalation", str(tmp_path / "absent.jsonl"), timeout=120)
    assert done.returncode == 2 and "absent.jsonl" in done.stderr
    assert done.stderr.strip().count("\n") == 0
