"""`callcentre eval` end to end: two short scenarios through the real server and simulator.

The caller's speech is synthesised and goes through mu-law and Whisper like a real call, so
this is slow (about a minute); the full suite lives in data/scenarios.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from telephony.evaluation import check, evaluate, load_scenario, report

SCENARIOS = Path(__file__).resolve().parent.parent / "data" / "scenarios"
USED = ("orders_status_number_typed_on_keypad.yaml", "orders_return_confirmed.yaml")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("scenarios")
    for index, name in enumerate(USED):  # numbered: the return runs last, its rows stay
        shutil.copy(SCENARIOS / name, folder / f"{index}_{name}")
    workdir = tmp_path_factory.mktemp("eval")
    found = asyncio.run(evaluate(folder, workdir))
    return ({r.scenario.path.name.split("_", 1)[1]: r for r in found},
            workdir / "server" / "recordings")


def test_both_scenarios_pass(results):
    by_name, _ = results
    for name in USED:
        assert by_name[name].passed, (name, by_name[name].reasons, by_name[name].transcript)
    table = report(list(by_name.values()))
    assert "2 passed, 0 failed (100 % pass rate)" in table


def test_a_wrong_expectation_fails_with_its_reasons(results):
    by_name, recordings = results
    scenario = load_scenario(SCENARIOS / "orders_return_confirmed.yaml")
    scenario.expect = {"reply_contains": ["$999.99"], "escalated": True,
                       "db": [{"table": "returns", "where": {"order_number": "4388"},
                               "count": 0}]}
    reasons = check(scenario, by_name["orders_return_confirmed.yaml"].events,
                    f"sqlite:///{recordings / 'calls.db'}")
    assert reasons == ["reply lacks '$999.99'", "did not escalate",
                       "returns where {'order_number': '4388'}: 1 rows, wanted 0"]
