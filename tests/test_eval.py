"""`callcentre eval`: scenario files, their checks, and both ways of running them.

- Loading and checking (`telephony/scenarios.py`): unknown keys, bad values and bad days give
  one clear FAIL row for that file; per-turn checks pass and fail as they should.
- Text mode (`--text`, `telephony/text_runner.py`): the same brain as a call, in seconds;
  `--today` pins the seeded business and the agent's clock.
- Audio mode (the default): two short scenarios through the real server and simulator. The
  caller's speech is synthesised and goes through mu-law and Whisper like a real call, so this
  part is slow (about a minute); the full suite lives in data/scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from telephony.evaluation import evaluate, evaluate_text, report, reset_business, run
from telephony.scenarios import (
    ScenarioError,
    TurnRecord,
    check_call,
    check_turn,
    load_scenario,
    turn_records,
    unwanted_action,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "data" / "scenarios"
USED = ("orders_status_number_typed_on_keypad.yaml", "orders_return_confirmed.yaml")
# A typo under `expect:` would check nothing if it were ignored.
TYPO = 'name: typo\nturns:\n  - dtmf: "4521#"\nexpect:\n  reply_contain: ["UPS"]\n'
# The simulator refuses a missing WAV: the call itself fails, not the file.
NO_AUDIO = "name: missing audio\nturns:\n  - wav: nowhere.wav\n"

WEI = "+15550147788"  # keyboard 4488 delivered (UPS), lamp 4577 on its way
OLGA = "+15550193344"  # one active card, 6620


def verdicts(table: str) -> dict[str, str]:
    """Scenario name -> PASS/FAIL, from the rows of the printed report."""
    rows = [re.match(r"^(\S.*?)\s{2,}(PASS|FAIL)\b", line) for line in table.splitlines()]
    return {row.group(1): row.group(2) for row in rows if row}


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path


# -- loading: every mistake is one clear line ------------------------------------------------

BAD = {
    "turn_typo.yaml": (
        "turns:\n  - say: hello\n    expect: {reply_contain: [x]}\n",
        "turn_typo.yaml: unknown key in turn 1's expect: reply_contain (allowed: does, "
        "escalated, offers, reply_contains, reply_not_contains)",
    ),
    "bad_offer.yaml": (
        "turns:\n  - say: hello\n  - say: block it\n    expect: {offers: refund_money}\n",
        "bad_offer.yaml: turn 2: offers must be one of block_card, book_appointment, "
        "cancel_appointment, move_appointment, none, start_return",
    ),
    "bad_does.yaml": (
        "turns:\n  - say: hello\n    expect: {does: blocking}\n",
        "bad_does.yaml: turn 1: does must be one of",
    ),
    "bad_today.yaml": (
        "today: next monday\nturns:\n  - say: hello\n",
        "bad_today.yaml: today must be a date (YYYY-MM-DD)",
    ),
    "not_a_list.yaml": (
        "turns:\n  - say: hello\n    expect: {reply_contains: UPS}\n",
        "not_a_list.yaml: turn 1's expect: reply_contains must be a list",
    ),
    "two_kinds.yaml": (
        "turns:\n  - say: hello\n    dtmf: '1'\n",
        "two_kinds.yaml: turn 1 has exactly one of say, wav, dtmf",
    ),
    "unknown_top.yaml": (
        "when: later\nturns:\n  - say: hello\n",
        "unknown_top.yaml: unknown key in the scenario: when (allowed: caller, expect, name, "
        "today, turns)",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_scenario_file_raises_one_clear_line(tmp_path: Path, name: str):
    body, message = BAD[name]
    with pytest.raises(ScenarioError) as raised:
        load_scenario(write(tmp_path, name, body))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_an_impossible_date_is_a_scenario_error(tmp_path: Path):
    with pytest.raises(ScenarioError, match="today"):
        load_scenario(write(tmp_path, "feb30.yaml", "today: 2026-02-30\nturns:\n  - say: hi\n"))


def test_a_scenario_loads_with_its_day_and_turn_checks(tmp_path: Path):
    scenario = load_scenario(write(tmp_path, "ok.yaml", (
        "name: fine\ncaller: '+15550147788'\ntoday: 2026-12-07\nturns:\n"
        "  - say: hello\n    expect: {reply_contains: [a, [b, c]], offers: none, does: none,"
        " escalated: false}\n  - dtmf: '4488#'\n"
        "expect:\n  db:\n    - {table: returns, where: {order_number: '4488'}, count: 0}\n"
    )))  # fmt: skip
    assert scenario.name == "fine" and scenario.today == date(2026, 12, 7)
    assert scenario.caller == "+15550147788" and len(scenario.turns) == 2
    assert scenario.turns[0]["expect"]["reply_contains"] == ["a", ["b", "c"]]


# -- per-turn checks on recorded events ------------------------------------------------------


def test_recorded_events_become_one_record_per_caller_turn():
    events = [
        {"type": "greeting", "text": "Hi"},
        {"type": "caller_turn", "text": "block my card"},
        {"type": "understood", "intent": "card_block", "offers": "block_card"},
        {"type": "agent_turn", "text": "Shall I block your card ending 6620?"},
        {"type": "keypad_entry", "digits": "0"},
        {"type": "understood", "intent": "speak_to_human"},
        {"type": "escalation", "rule": "dtmf_zero"},
        {"type": "agent_turn", "text": "Putting you through."},
    ]
    first, second = turn_records(events)
    assert first.caller == "block my card" and first.reply.endswith("6620?")
    assert first.understood["offers"] == "block_card" and not first.escalated
    assert second.caller == "(keypad) 0" and second.escalated
    assert second.reply == "Putting you through."


def test_turn_checks_pass_and_fail_as_they_should():
    record = TurnRecord(
        "block my card",
        {"offers": "block_card", "does": None},
        "Shall I block your card ending 6620 now?",
        escalated=False,
    )
    assert check_turn({}, record) == []
    assert (
        check_turn(
            {
                "reply_contains": ["6620", ["block", "freeze"]],
                "reply_not_contains": ["blocked"],
                "offers": "block_card",
                "does": "none",
                "escalated": False,
            },
            record,
        )
        == []
    )
    assert check_turn({"reply_contains": ["7733", ["unblock", "freeze"]]}, record) == [
        "reply lacks '7733'",
        "reply lacks 'unblock / freeze'",
    ]
    assert check_turn({"reply_not_contains": ["SHALL I"]}, record) == ["reply says 'SHALL I'"]
    assert check_turn({"offers": "none", "does": "block_card", "escalated": True}, record) == [
        "did not escalate",
        "offers block_card, wanted none",
        "does none, wanted block_card",
    ]
    assert check_turn({"reply_contains": ["x"]}, None) == ["the call has no reply to this turn"]
    # an action offered where the scenario says none is an unwanted action; a missing one isn't
    assert unwanted_action({"offers": "none"}, record)
    assert not unwanted_action({"offers": "block_card"}, record)
    assert not unwanted_action({"does": "block_card"}, record)
    assert not unwanted_action({}, record)


def test_call_checks_read_the_whole_call_and_the_database(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    reset_business(url, None, date(2026, 12, 7))
    scenario = load_scenario(write(tmp_path / "s", "c.yaml", (
        "turns:\n  - say: hi\nexpect:\n  reply_contains: ['$49.00']\n  escalated: true\n"
        "  db:\n    - {table: returns, where: {order_number: '4388'}, count: 1}\n"
        "    - {table: returns, where: {order_number: '4302'}, count: 1}\n"
        "    - {table: nowhere, where: {x: '1'}}\n"
    )))  # fmt: skip
    events = [{"type": "agent_turn", "text": "The refund is $49.00."}]
    assert check_call(scenario, events, url) == [
        "did not escalate",
        "returns where {'order_number': '4388'}: 0 rows, wanted 1",
        "db check on nowhere failed: OperationalError",
    ]


# -- text mode -------------------------------------------------------------------------------

GOOD = f"""name: keyboard status
caller: "{WEI}"
turns:
  - say: "Hello, can you check order four four eight eight for me?"
    expect:
      reply_contains: ["4488", "delivered"]
      offers: none
      does: none
      escalated: false
  - say: "Lovely, that's everything, bye."
    expect:
      reply_contains: ["goodbye"]
expect:
  escalated: false
"""
WRONG_CARRIER = GOOD.replace("keyboard status", "wrong carrier").replace(
    '["4488", "delivered"]', '["4488", "FedEx"]'
)
UNWANTED = f"""name: unwanted block
caller: "{OLGA}"
turns:
  - say: "Somebody pinched my card on the bus, can you stop it?"
    expect: {{offers: none}}
  - say: "Yes, go ahead."
    expect: {{does: none}}
expect:
  db:
    - {{table: cards, where: {{last4: "6620", status: active}}, count: 1}}
"""
TOMORROW = """name: tomorrow
caller: "+15551234567"
turns:
  - say: "Could I book a check-up for tomorrow morning?"
    expect:
      reply_contains: ["Tuesday, December 8"]
      offers: none
"""


@pytest.fixture(scope="module")
def text_results(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("text-scenarios")
    for name, body in (
        ("1_good.yaml", GOOD),
        ("2_wrong_carrier.yaml", WRONG_CARRIER),
        ("3_unwanted.yaml", UNWANTED),
        ("4_typo.yaml", TYPO),
    ):
        write(folder, name, body)
    results = asyncio.run(
        evaluate_text(folder, tmp_path_factory.mktemp("work"), today=date(2026, 12, 7))
    )
    return {r.scenario.path.name: r for r in results}


def test_text_mode_passes_a_right_call_turn_by_turn(text_results):
    good = text_results["1_good.yaml"]
    assert good.passed, (good.reasons, good.transcript)
    assert (good.turns_checked, good.turns_passed, good.unwanted_actions) == (2, 2, 0)
    assert any(line.startswith("caller: Hello, can you check") for line in good.transcript)


def test_text_mode_fails_a_wrong_turn_with_its_reason(text_results):
    wrong = text_results["2_wrong_carrier.yaml"]
    assert not wrong.passed and wrong.reasons == ["turn 1: reply lacks 'FedEx'"]
    assert (wrong.turns_checked, wrong.turns_passed) == (2, 1)


def test_text_mode_counts_unwanted_actions_and_checks_the_database(text_results):
    unwanted = text_results["3_unwanted.yaml"]
    assert unwanted.unwanted_actions == 2
    assert unwanted.reasons == [
        "turn 1: offers block_card, wanted none",
        "turn 2: does block_card, wanted none",
        "cards where {'last4': '6620', 'status': 'active'}: 0 rows, wanted 1",
    ]


def test_text_mode_reports_a_broken_file_as_its_fail_row(text_results):
    typo = text_results["4_typo.yaml"]
    assert not typo.passed and typo.reasons == [
        "4_typo.yaml: unknown key in expect: reply_contain (allowed: db, escalated, "
        "reply_contains, reply_not_contains)"
    ]
    table = report(list(text_results.values()))
    assert "1 passed, 3 failed (25 % of calls right)" in table
    assert "3 of 6 checked turns right (50 %); unwanted actions: 2" in table
    assert verdicts(table) == {
        "keyboard status": "PASS",
        "wrong carrier": "FAIL",
        "unwanted block": "FAIL",
        "4_typo": "FAIL",
    }


def test_today_pins_what_tomorrow_means(tmp_path: Path):
    folder = write(tmp_path / "s", "tomorrow.yaml", TOMORROW).parent
    (monday,) = asyncio.run(evaluate_text(folder, tmp_path / "w1", today=date(2026, 12, 7)))
    assert monday.passed, (monday.reasons, monday.transcript)
    (wednesday,) = asyncio.run(evaluate_text(folder, tmp_path / "w2", today=date(2026, 12, 9)))
    assert wednesday.reasons == ["turn 1: reply lacks 'Tuesday, December 8'"]
    assert any("Thursday, December 10" in line for line in wednesday.transcript)
    # a scenario's own day holds when the command names none
    write(folder, "tomorrow.yaml", TOMORROW.replace("turns:", "today: 2026-12-07\nturns:"))
    (pinned,) = asyncio.run(evaluate_text(folder, tmp_path / "w3"))
    assert pinned.passed, (pinned.reasons, pinned.transcript)


def test_callcentre_eval_text_runs_in_seconds_and_prints_the_rates(tmp_path: Path):
    folder = tmp_path / "scenarios"
    write(folder, "good.yaml", GOOD)
    write(folder, "tomorrow.yaml", TOMORROW)
    write(folder, "unwanted.yaml", UNWANTED)
    write(folder, "bad_today.yaml", BAD["bad_today.yaml"][0])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RECORDINGS_DIR": str(tmp_path / "rec")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "telephony.cli", "eval", str(folder), "--text",
         "--today", "2026-12-07"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-2000:]  # two scenarios fail
    out = done.stdout
    assert verdicts(out) == {
        "bad_today": "FAIL",
        "keyboard status": "PASS",
        "tomorrow": "PASS",
        "unwanted block": "FAIL",
    }
    assert "today must be a date (YYYY-MM-DD)" in out
    assert "2 passed, 2 failed (50 % of calls right)" in out
    assert "3 of 5 checked turns right (60 %); unwanted actions: 2" in out
    # model loading included; the calls themselves take well under a second a turn
    assert seconds < 120, seconds


def test_callcentre_eval_rejects_a_bad_today(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "telephony.cli", "eval", str(tmp_path), "--text",
         "--today", "07/12/2026"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "--today" in done.stderr


# -- audio mode: the real server and simulator -----------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("scenarios")
    for index, name in enumerate(USED):  # numbered: the return runs last, its rows stay
        shutil.copy(SCENARIOS / name, folder / f"{index}_{name}")
    (folder / "0_broken_call.yaml").write_text(NO_AUDIO)  # runs first: the others go on
    (folder / "0_typo.yaml").write_text(TYPO)
    workdir = tmp_path_factory.mktemp("eval")
    found = asyncio.run(evaluate(folder, workdir))
    return (
        {r.scenario.path.name.split("_", 1)[1]: r for r in found},
        workdir / "server-today" / "recordings",
    )


def test_both_scenarios_pass(results):
    by_name, _ = results
    for name in USED:
        assert by_name[name].passed, (name, by_name[name].reasons, by_name[name].transcript)
    table = report([by_name[name] for name in USED])
    assert "2 passed, 0 failed (100 % of calls right)" in table


def test_a_failing_call_and_a_typo_fail_alone_with_their_reasons(results):
    by_name, _ = results
    call, typo = by_name["broken_call.yaml"], by_name["typo.yaml"]
    assert not call.passed and call.reasons[0].startswith("call failed: AudioFileError")
    assert "nowhere.wav" in call.reasons[0]
    assert not typo.passed and "unknown key in expect: reply_contain" in typo.reasons[0]
    assert "2 passed, 2 failed" in report(list(by_name.values()))


def test_a_wrong_expectation_fails_with_its_reasons(results):
    by_name, recordings = results
    scenario = load_scenario(SCENARIOS / "orders_return_confirmed.yaml")
    scenario.expect = {
        "reply_contains": ["$999.99"],
        "escalated": True,
        "db": [{"table": "returns", "where": {"order_number": "4388"}, "count": 0}],
    }
    reasons = check_call(
        scenario,
        by_name["orders_return_confirmed.yaml"].events,
        f"sqlite:///{recordings / 'calls.db'}",
    )
    assert reasons == [
        "reply lacks '$999.99'",
        "did not escalate",
        "returns where {'order_number': '4388'}: 1 rows, wanted 0",
    ]


def test_a_typo_fails_its_scenario_before_any_call(tmp_path: Path, capsys):
    (tmp_path / "typo.yaml").write_text(TYPO)
    (tmp_path / "extra.yaml").write_text(TYPO.replace("name: typo", "name: x\nwhen: later"))
    results = asyncio.run(evaluate(tmp_path, tmp_path / "work"))  # no scenario to run: no server
    assert [r.passed for r in results] == [False, False]
    assert results[0].reasons == [
        "extra.yaml: unknown key in the scenario: when (allowed: caller, expect, name, today, "
        "turns)"
    ]
    assert "reply_contain" in results[1].reasons[0]
    assert not any((tmp_path / "work").glob("server*"))
    args = argparse.Namespace(scenario_dir=tmp_path, data=ROOT / "data" / "business", verbose=False)
    assert run(args) == 1
    table = capsys.readouterr().out
    assert "typo   FAIL" in table and "0 passed, 2 failed" in table


def test_eval_data_is_the_business_every_scenario_starts_from(tmp_path: Path):
    data = tmp_path / "business"
    shutil.copytree(ROOT / "data" / "business", data)
    customers = json.loads((data / "customers.json").read_text())
    customers["customers"][0]["name"] = "Marta Lopez"
    (data / "customers.json").write_text(json.dumps(customers))
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    reset_business(url, data)
    engine = create_engine(url)
    with engine.connect() as db:
        names = set(db.execute(text("select name from customers")).scalars())
    engine.dispose()
    assert "Marta Lopez" in names and "Maria Lopez" not in names
    missing = argparse.Namespace(scenario_dir=tmp_path, data=tmp_path / "nowhere", verbose=False)
    assert run(missing) == 2
