"""Hand-over over Twilio's REST API, against a local stand-in of that API; the whisper route."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from twilio_standin import TwilioStandin

from telephony.call_control import ApiBaseHttpClient, CallControl
from telephony.handover_routes import WhisperNotes, handover_router
from telephony.signatures import SIGNATURE_HEADER, sign
from voice.settings import Settings
from voice.store.callbacks import pending_callbacks, request_callback
from voice.store.calls import Store

ACCOUNT = "AC" + "7" * 32
TOKEN = "standin-token-0123456789abcdef"
CALL = "CA" + "b" * 32
HUMAN = "+15550102030"
PUBLIC = "https://agent.example.com"
SUMMARY = "Order 45712 is nine days late; the courier lost it; caller wants a refund."


@pytest.fixture(scope="module")
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin(ACCOUNT, TOKEN, calls={CALL}) as server:
        yield server


@pytest.fixture
def twilio(standin: TwilioStandin) -> TwilioStandin:
    standin.requests.clear()
    standin.fail_status, standin.delay_s = None, 0.0
    return standin


def settings_for(twilio: TwilioStandin, **overrides: str) -> Settings:
    values = {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE": twilio.base_url,
        "PUBLIC_URL": PUBLIC,
        "HUMAN_AGENT_NUMBER": HUMAN,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def transfer(control: CallControl, call_sid: str = CALL):
    return await control.transfer(
        call_sid, caller_name="Ada Lovelace", reason="Caller asked for a person", summary=SUMMARY
    )


def test_http_client_sends_the_sdk_requests_to_the_configured_base():
    client = ApiBaseHttpClient("http://127.0.0.1:9/twilio-api/")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json"
    assert client.rewrite(url) == (
        f"http://127.0.0.1:9/twilio-api/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json"
    )


async def test_transfer_dials_the_human_with_a_whisper_url(twilio: TwilioStandin):
    notes = WhisperNotes()
    result = await transfer(CallControl(settings_for(twilio), notes))

    assert result.ok and result.error == "" and result.status == "in-progress"
    [request] = twilio.requests
    assert request.auth == (ACCOUNT, TOKEN)
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json"
    root = request.twiml
    assert root is not None and root.tag == "Response"
    assert "connect you" in (root.findtext("Say") or "")
    number = root.find("./Dial/Number")
    assert number is not None and number.text == HUMAN
    whisper = urlsplit(number.get("url", ""))
    assert f"{whisper.scheme}://{whisper.netloc}{whisper.path}" == f"{PUBLIC}/twilio/whisper"
    assert parse_qs(whisper.query) == {"id": [result.whisper_id]}
    assert "45712" not in request.form["Twiml"]  # the summary stays with us, not in URLs
    assert notes.get(result.whisper_id).summary == SUMMARY
    dial = root.find("./Dial")
    action = urlsplit(dial.get("action", ""))  # told how the dial ended
    assert f"{action.scheme}://{action.netloc}{action.path}" == f"{PUBLIC}/twilio/dial-status"
    assert parse_qs(action.query) == {"id": [result.whisper_id]}


async def test_whisper_route_reads_the_note_to_signed_requests_only(twilio: TwilioStandin):
    settings, notes = settings_for(twilio), WhisperNotes()
    result = await transfer(CallControl(settings, notes))
    app = FastAPI()
    app.include_router(handover_router(settings, notes))
    path = f"/twilio/whisper?id={result.whisper_id}"
    form = {"CallSid": "CA" + "c" * 32, "AccountSid": ACCOUNT, "CallStatus": "in-progress"}
    signature = sign(settings, settings.public(path), form)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal"
    ) as client:
        signed = await client.post(path, data=form, headers={SIGNATURE_HEADER: signature})
        unsigned = await client.post(path, data=form)
        forged = await client.post(
            path, data={**form, "CallSid": "CA" + "d" * 32}, headers={SIGNATURE_HEADER: signature}
        )

    assert signed.status_code == 200
    said = ET.fromstring(signed.text).findtext("Say") or ""
    assert "Ada Lovelace" in said and "Caller asked for a person" in said and SUMMARY in said
    assert unsigned.status_code == forged.status_code == 403


async def test_whisper_for_an_unknown_note_still_answers(twilio: TwilioStandin):
    settings = settings_for(twilio)
    app = FastAPI()
    app.include_router(handover_router(settings, WhisperNotes()))
    path = "/twilio/whisper?id=expired"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal"
    ) as client:
        response = await client.post(
            path, data={}, headers={SIGNATURE_HEADER: sign(settings, settings.public(path), {})}
        )
    assert response.status_code == 200
    assert "No notes" in (ET.fromstring(response.text).findtext("Say") or "")


async def test_hang_up_completes_the_call(twilio: TwilioStandin):
    result = await CallControl(settings_for(twilio)).hang_up(CALL)
    assert result.ok and result.status == "completed"
    assert twilio.requests[-1].form == {"Status": "completed"}


@pytest.mark.parametrize(
    ("overrides", "fail_status", "expected"),
    [
        ({"TWILIO_AUTH_TOKEN": "wrong-token"}, None, "401"),
        ({"TWILIO_ACCOUNT_SID": "AC" + "9" * 32}, None, "401"),
        ({}, 500, "500"),
    ],
)
async def test_rest_failures_are_results_not_exceptions(
    twilio: TwilioStandin, overrides, fail_status, expected
):
    twilio.fail_status = fail_status
    notes = WhisperNotes()
    result = await transfer(CallControl(settings_for(twilio, **overrides), notes))
    assert not result.ok and expected in result.error and result.whisper_id == ""
    assert len(twilio.requests) == 1


async def test_unknown_call_is_a_404_result(twilio: TwilioStandin):
    result = await transfer(CallControl(settings_for(twilio)), "CA" + "e" * 32)
    assert not result.ok and "404" in result.error


async def test_missing_configuration_fails_before_any_request(twilio: TwilioStandin):
    no_number = await transfer(CallControl(settings_for(twilio, HUMAN_AGENT_NUMBER="")))
    no_token = await CallControl(settings_for(twilio, TWILIO_AUTH_TOKEN="")).hang_up(CALL)
    assert not no_number.ok and "HUMAN_AGENT_NUMBER" in no_number.error
    assert not no_token.ok and "TWILIO_AUTH_TOKEN" in no_token.error
    assert twilio.requests == []


async def test_network_errors_and_timeouts_are_results(twilio: TwilioStandin):
    closed = settings_for(twilio, TWILIO_API_BASE="http://127.0.0.1:9")
    unreachable = await transfer(CallControl(closed))
    twilio.delay_s = 1.0
    slow = await transfer(CallControl(settings_for(twilio), timeout_s=0.2))
    assert not unreachable.ok and unreachable.error
    assert not slow.ok and slow.error


def test_callback_request_is_stored(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    row_id = request_callback(
        store.engine,
        call_sid=CALL,
        phone="+15550001111",
        name="Ada Lovelace",
        reason="Transfer failed",
        summary=SUMMARY,
    )
    [row] = pending_callbacks(store.engine)
    assert row.id == row_id and row.call_sid == CALL and row.phone == "+15550001111"
    assert row.name == "Ada Lovelace" and row.summary == SUMMARY and row.status == "pending"
    assert row.created_at is not None


@pytest.mark.parametrize(
    ("dial_status", "callback"),
    [("no-answer", True), ("busy", True), ("failed", True), ("completed", False)],
)
async def test_a_dial_the_human_did_not_answer_becomes_a_callback(
    twilio: TwilioStandin, tmp_path, dial_status: str, callback: bool
):
    settings, notes = settings_for(twilio), WhisperNotes()
    result = await transfer(CallControl(settings, notes))
    app = FastAPI()
    app.state.store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    app.include_router(handover_router(settings, notes))
    path = f"/twilio/dial-status?id={result.whisper_id}"
    form = {
        "CallSid": CALL,
        "AccountSid": ACCOUNT,
        "From": "+15550001111",
        "DialCallStatus": dial_status,
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal"
    ) as client:
        unsigned = await client.post(path, data=form)
        signed = {SIGNATURE_HEADER: sign(settings, settings.public(path), form)}
        answer = await client.post(path, data=form, headers=signed)
        replay = await client.post(path, data=form, headers=signed)  # stores nothing new

    assert unsigned.status_code == 403 and answer.status_code == replay.status_code == 200
    twiml = ET.fromstring(answer.text)
    assert twiml.find("Hangup") is not None  # the call ends either way, never in silence
    said = twiml.findtext("Say") or ""
    rows = pending_callbacks(app.state.store.engine)
    if callback:
        assert "call you back" in said
        [row] = rows
        assert row.call_sid == CALL and row.phone == "+15550001111"
        assert row.name == "Ada Lovelace" and row.summary == SUMMARY
        assert dial_status in row.reason and "Caller asked for a person" in row.reason
    else:
        assert said == "" and rows == []
