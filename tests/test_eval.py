"""`callcentre eval` end to end: two short scenarios through the real server and simulator.

The caller's speech is synthesised and goes through mu-law and Whisper like a real call, so
this is slow (about a minute); the full suite lives in data/scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from telephony.evaluation import check, evaluate, load_scenario, report, reset_business, run

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "data" / "scenarios"
USED = ("orders_status_number_typed_on_keypad.yaml", "orders_return_confirmed.yaml")
# A typo under `expect:` would check nothing if it were ignored.
TYPO = 'name: typo\nturns:\n  - dtmf: "4521#"\nexpect:\n  reply_contain: ["UPS"]\n'
# The simulator refuses a missing WAV: the call itself fails, not the file.
NO_AUDIO = "name: missing audio\nturns:\n  - wav: nowhere.wav\n"


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
        workdir / "server" / "recordings",
    )


def test_both_scenarios_pass(results):
    by_name, _ = results
    for name in USED:
        assert by_name[name].passed, (name, by_name[name].reasons, by_name[name].transcript)
    table = report([by_name[name] for name in USED])
    assert "2 passed, 0 failed (100 % pass rate)" in table


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
    reasons = check(
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
        "extra.yaml: unknown key in the scenario: when (allowed: caller, expect, name, turns)"
    ]
    assert "reply_contain" in results[1].reasons[0]
    assert not (tmp_path / "work" / "server").exists()
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
