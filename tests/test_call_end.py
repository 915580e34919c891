"""Why a call ended: `CallSession.end` is the one way to say it, with one rule for which wins.

Each case is a real session over a real SQLite store: the reason that stands is the one in the
recording's last event and in the call's row.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from voice.session import DECISIONS, LINE_ENDS, CallSession
from voice.store.calls import Store

ROOT = Path(__file__).resolve().parent.parent


def ended(tmp_path: Path, *reasons: str) -> tuple[str, str, str]:
    """(the session's reason, the recording's, the row's) after `reasons` then close."""
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    session = CallSession("CA" + "1" * 32, "MZ" + "1" * 32, "+15550001111", tmp_path, store)
    for reason in reasons:
        session.end(reason)
    session.close("completed")
    events = [json.loads(line) for line in session.recorder.events_path.read_text().splitlines()]
    call = store.get_call(session.call_sid)
    assert call is not None
    return str(session.end_reason), events[-1]["reason"], call.end_reason


@pytest.mark.parametrize(
    ("reasons", "stands"),
    [
        ((), "completed"),  # nothing said: closed normally
        (("caller_hangup", "connection_lost"), "caller_hangup"),  # the first line end wins
        (("connection_lost", "error"), "connection_lost"),
        # A transfer's `stop` can arrive before the REST request that moved the call returns.
        (("caller_hangup", "transferred"), "transferred"),
        # The agent's last line after a decision hangs up: the decision stays.
        (("callback_requested", "agent_hangup"), "callback_requested"),
        (("silence", "agent_hangup", "caller_hangup"), "silence"),
        (("transferred", "callback_requested"), "transferred"),  # the first decision wins
    ],
)
def test_the_first_reason_wins_except_a_decision_replaces_a_line_end(tmp_path, reasons, stands):
    assert ended(tmp_path, *reasons) == (stands, stands, stands)


def test_a_reason_after_close_changes_nothing_and_an_unknown_one_is_a_bug(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    session = CallSession("CA" + "2" * 32, "MZ" + "2" * 32, "", tmp_path, store)
    with pytest.raises(ValueError, match="unknown end reason"):
        session.end("hung up")  # a typo would otherwise land in the reports as a new reason
    session.end("caller_hangup")
    session.close("completed")
    assert session.end("transferred") == "caller_hangup" == session.end_reason
    with pytest.raises(AttributeError):
        session.end_reason = "error"  # type: ignore[misc]  # only through end()


def test_every_end_reason_in_the_code_is_one_the_rule_knows():
    """Every `.end("...")` and `.close("...")` given a literal names a known reason."""
    found: set[str] = set()
    for path in [*ROOT.glob("voice/**/*.py"), *ROOT.glob("telephony/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("end", "close")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and "session" in ast.unparse(node.func.value)
            ):
                found.add(node.args[0].value)
    assert found >= {"caller_hangup", "connection_lost", "error", "transferred", "completed"}
    assert found <= DECISIONS | LINE_ENDS
