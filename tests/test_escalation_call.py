"""Escalation on a live (simulated) call: the REST update, the whisper, the failure path."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from twilio_standin import TwilioStandin

from telephony.local_server import DEV_ACCOUNT_SID, LocalServer
from telephony.simulator import simulate_call

HUMAN = "+15550007777"


@pytest.fixture(scope="module")
def twilio() -> Iterator[TwilioStandin]:
    with TwilioStandin(DEV_ACCOUNT_SID, LocalServer.token) as standin:
        yield standin


@pytest.fixture(scope="module")
def escalating_server(tmp_path_factory, twilio: TwilioStandin) -> Iterator[LocalServer]:
    env = {"TWILIO_API_BASE": twilio.base_url, "HUMAN_AGENT_NUMBER": HUMAN}
    with LocalServer(tmp_path_factory.mktemp("escalation"), extra_env=env) as server:
        yield server


def events_of(server: LocalServer, call_sid: str) -> list[dict]:
    path = next(server.recordings.rglob(f"{call_sid}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def call_row(server: LocalServer, call_sid: str) -> dict:
    with create_engine(server.database_url).connect() as db:
        return dict(
            db.execute(text("select * from calls where call_sid=:s"), {"s": call_sid})
            .mappings()
            .one()
        )


async def place_call(server: LocalServer, twilio: TwilioStandin, turns: list) -> tuple:
    call_sid = twilio.add_call(f"CA{secrets.token_hex(16)}")
    result = await simulate_call(
        turns,
        url=server.media_url,
        settings=server.settings,
        call_sid=call_sid,
        caller="+15551234567",
    )
    return result, events_of(server, call_sid)


async def test_asking_for_a_person_escalates_on_the_first_turn(
    escalating_server, twilio, samples: Path
):
    twilio.requests.clear()
    result, events = await place_call(escalating_server, twilio, [samples / "agent_please.wav"])
    escalation = next(e for e in events if e["type"] == "escalation")
    assert escalation["rule"] == "human_request" and escalation["turns"] == [0]
    assert "person" in escalation["reason"].lower()
    # The caller heard the hand-over line (the simulator's transcript shows it)...
    heard = result.turns[0].agent_text.lower()  # "putting you through to a colleague now"
    assert "through" in heard and "colleague" in heard
    # ...and the call was moved with Twilio's REST API: a <Dial> to the human with a whisper.
    update = next(r for r in twilio.requests if r.call_sid == result.call_sid)
    assert update.auth == (DEV_ACCOUNT_SID, LocalServer.token)
    number = update.twiml.find("./Dial/Number")
    assert number is not None and number.text == HUMAN
    assert "/twilio/whisper?id=" in number.get("url")
    row = call_row(escalating_server, result.call_sid)
    assert row["escalated"] and row["outcome"] == "escalated"
    assert row["escalation_rule"] == "human_request" and row["summary"]


async def test_pressing_zero_escalates(escalating_server, twilio, samples: Path):
    result, events = await place_call(
        escalating_server, twilio, [samples / "order_status.wav", "dtmf:0"]
    )
    escalation = next(e for e in events if e["type"] == "escalation")
    assert escalation["rule"] == "dtmf_zero" and escalation["turns"] == [1]
    assert any(r.call_sid == result.call_sid for r in twilio.requests)
    # The keypad turn has no words to score: the spoken turn keeps its own sentiment.
    [scored] = [e for e in events if e["type"] == "sentiment"]
    with create_engine(escalating_server.database_url).connect() as db:
        stored = (
            db.execute(
                text("select sentiment_score from turns where call_sid=:s and role='caller'"),
                {"s": result.call_sid},
            )
            .scalars()
            .all()
        )
    assert len(stored) == 1 and stored[0] == pytest.approx(scored["score"], abs=1e-3)


async def test_failed_transfer_promises_a_callback_and_stores_it(
    escalating_server, twilio, samples: Path
):
    twilio.fail_status = 500
    try:
        result, events = await place_call(escalating_server, twilio, [samples / "agent_please.wav"])
    finally:
        twilio.fail_status = None
    kinds = [e["type"] for e in events]
    assert "transfer_failed" in kinds and "callback_requested" in kinds, kinds[5:]
    said = " ".join(e["text"] for e in events if e["type"] == "agent_turn").lower()
    assert "call you back" in said
    assert events[-1]["reason"] == "callback_requested"
    with create_engine(escalating_server.database_url).connect() as db:
        callback = (
            db.execute(
                text("select * from callback_requests where call_sid=:s"), {"s": result.call_sid}
            )
            .mappings()
            .one()
        )
    assert callback["phone"] == "+15551234567" and callback["status"] == "pending"
    assert "person" in callback["reason"].lower()


# -- no HUMAN_AGENT_NUMBER: nobody to put the caller through to ------------------------------


@pytest.fixture(scope="module")
def numberless_server(tmp_path_factory, twilio: TwilioStandin) -> Iterator[LocalServer]:
    env = {"TWILIO_API_BASE": twilio.base_url, "HUMAN_AGENT_NUMBER": ""}
    with LocalServer(tmp_path_factory.mktemp("no-number"), extra_env=env) as server:
        yield server


async def test_without_a_number_the_caller_hears_only_the_call_back(
    numberless_server, twilio, samples: Path
):
    twilio.requests.clear()
    result, events = await place_call(numberless_server, twilio, [samples / "agent_please.wav"])
    assert [e["rule"] for e in events if e["type"] == "escalation"] == ["human_request"]
    # What the caller heard (the simulator transcribes the agent's audio back with Whisper).
    heard = " ".join(t.agent_text for t in result.turns).lower()
    said = " ".join(e["text"] for e in events if e["type"] == "agent_turn").lower()
    for words in (heard, said):
        assert "putting you through" not in words and "connecting" not in words
        assert "call you back" in words
    assert "can't put you through" in said
    # No move was tried, the call-back is stored and the call ended on it.
    assert not any(r.call_sid == result.call_sid for r in twilio.requests)
    kinds = [e["type"] for e in events]
    assert "transfer_skipped" in kinds and "transfer_failed" not in kinds
    assert events[-1]["reason"] == "callback_requested"
    with create_engine(numberless_server.database_url).connect() as db:
        callback = (
            db.execute(
                text("select * from callback_requests where call_sid=:s"), {"s": result.call_sid}
            )
            .mappings()
            .one()
        )
    assert callback["status"] == "pending" and "person" in callback["reason"].lower()
    assert call_row(numberless_server, result.call_sid)["outcome"] == "escalated"
