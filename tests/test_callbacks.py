"""Working the call-back list against the real server and the Twilio REST stand-in: "Call back
now" places `calls.create` from TWILIO_CALLER_ID to the manager's phone with TwiML that dials
the caller; Twilio's signed callbacks store the outcome; failures are shown; requests are
marked done with a note. And the attempts that must fail."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from console_fixtures import (
    CALLER_ID,
    HUMAN,
    MANAGER,
    MANAGER_PHONE,
    OTHER_MANAGER,
    console_server,
    csrf,
    login,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio_standin import TwilioStandin

from telephony.local_server import LocalServer
from voice.store.callbacks import request_callback
from voice.store.calls import Store
from voice.store.schema import CallbackAttempt, SupervisorAction

CALLER = "+15551234567"  # Maria Garcia in the seeded business data
CALL = "CA" + "c" * 32


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalServer, TwilioStandin]]:
    with console_server(tmp_path_factory.mktemp("callbacks")) as both:
        yield both


@pytest.fixture
def server(running) -> LocalServer:
    return running[0]


@pytest.fixture
def twilio(running) -> TwilioStandin:
    standin = running[1]
    standin.requests.clear()
    standin.fail_status, standin.answer_override = None, None
    return standin


@pytest.fixture
def engine(server: LocalServer):
    store = Store(server.database_url)
    yield store.engine
    store.engine.dispose()


def new_request(engine, call_sid: str = CALL, reason: str = "The person did not answer") -> int:
    return request_callback(
        engine,
        call_sid=call_sid,
        phone=CALLER,
        name="Maria Garcia",
        reason=reason,
        summary="Card 4111 1111 1111 1111 was charged twice; wants the second charge back.",
    )


def call_back(client: httpx.Client, request_id: int) -> httpx.Response:
    token = csrf(client.get("/review/callbacks").text)
    return client.post(f"/review/callbacks/{request_id}/call", data={"csrf_token": token})


def attempts(engine, request_id: int) -> list[CallbackAttempt]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(CallbackAttempt)
                .where(CallbackAttempt.request_id == request_id)
                .order_by(CallbackAttempt.id)
            )
        )


def card(html: str, request_id: int) -> str:
    """One request's part of the page."""
    found = re.search(rf'id="request-{request_id}".*?</li>\s*(?=<li class="card|</ol>)', html, re.S)
    assert found, f"request {request_id} is not on the page"
    return found.group(0)


def test_call_back_now_rings_the_manager_then_dials_the_caller(server, twilio, engine):
    request_id = new_request(engine)
    client = login(server.http)
    page = client.get("/review/callbacks")
    assert page.status_code == 200
    shown = card(page.text, request_id)
    assert "Maria Garcia" in shown and "+1 555 ••• 4567" in shown
    assert CALLER not in page.text and "4111 1111 1111 1111" not in page.text  # masked
    assert f'href="/review/calls/{CALL}"' in shown and "The person did not answer" in shown

    placed = call_back(client, request_id)
    assert placed.status_code == 303, placed.text[:500]
    [create] = twilio.requests
    assert create.path.endswith(f"/Accounts/{twilio.account_sid}/Calls.json")
    assert create.form["To"] == MANAGER_PHONE and create.form["From"] == CALLER_ID
    root = create.twiml
    assert root is not None and "Maria Garcia" in (root.findtext("Say") or "")
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == CALLER_ID
    assert dial.findtext("Number") == CALLER
    status_url, dial_url = create.form["StatusCallback"], dial.get("action")
    assert status_url.startswith(server.http + "/twilio/callback-status?attempt=")
    assert set(create.values("StatusCallbackEvent")) >= {"ringing", "answered", "completed"}
    [attempt] = attempts(engine, request_id)
    assert attempt.twilio_sid == create.call_sid and attempt.manager == MANAGER
    assert attempt.status == "placed" and attempt.outcome == ""
    assert "Ringing…" in card(client.get("/review/callbacks").text, request_id)

    # Twilio reports the manager's leg, then how the dial to the caller ended.
    assert (
        twilio.report(status_url, {"CallSid": create.call_sid, "CallStatus": "ringing"}).status_code
        == 204
    )
    assert "ringing your phone" in card(client.get("/review/callbacks").text, request_id)
    after = twilio.report(dial_url, {"CallSid": create.call_sid, "DialCallStatus": "no-answer"})
    assert after.status_code == 200 and "could not be reached" in after.text
    assert attempts(engine, request_id)[0].outcome == "no-answer"
    # Told twice (Twilio retries): the first outcome stands.
    twilio.report(dial_url, {"CallSid": create.call_sid, "DialCallStatus": "completed"})
    assert attempts(engine, request_id)[0].outcome == "no-answer"

    assert call_back(client, request_id).status_code == 303  # try again: it connects
    second = twilio.requests[-1]
    twilio.report(second.twiml.find("Dial").get("action"), {"DialCallStatus": "completed"})
    assert [a.outcome for a in attempts(engine, request_id)] == ["no-answer", "connected"]
    shown = card(client.get("/review/callbacks").text, request_id)
    assert "no answer" in shown and "connected" in shown

    token = csrf(client.get("/review/callbacks").text)
    done = client.post(
        f"/review/callbacks/{request_id}/done",
        data={"csrf_token": token, "note": "Refunded the second charge."},
    )
    assert done.status_code == 303
    shown = card(client.get("/review/callbacks").text, request_id)
    assert "marked it done" in shown and "Refunded the second charge." in shown
    assert "Call back now" not in shown
    with Session(engine) as db:
        kinds = [
            (a.kind, a.manager)
            for a in db.scalars(select(SupervisorAction).where(SupervisorAction.call_sid == CALL))
        ]
    assert ("call_back", MANAGER) in kinds and ("callback_done", MANAGER) in kinds
    assert ("callback_result", MANAGER) in kinds
    metrics = httpx.get(f"{server.http}/metrics", headers=server.metrics_headers).text
    assert re.search(r'callcentre_supervisor_actions_total\{kind="call_back"\} [1-9]', metrics)
    assert re.search(r'callcentre_callbacks_total\{outcome="connected"\} [1-9]', metrics)


def test_a_manager_without_a_phone_rings_the_team_line(server, twilio, engine):
    request_id = new_request(engine, "CA" + "d" * 32)
    client = login(server.http, OTHER_MANAGER)
    assert call_back(client, request_id).status_code == 303
    assert twilio.requests[-1].form["To"] == HUMAN


def test_twilio_refusals_are_shown_and_stored(server, twilio, engine):
    request_id = new_request(engine, "CA" + "e" * 32)
    client = login(server.http)

    twilio.caller_ids.discard(CALLER_ID)  # TWILIO_CALLER_ID is not one of the account's numbers
    try:
        refused = call_back(client, request_id)
    finally:
        twilio.caller_ids.add(CALLER_ID)
    assert refused.status_code == 502
    assert "Twilio answered 400 (error 21210)" in card(refused.text, request_id)
    assert "not yet verified" in refused.text

    twilio.fail_status = 500
    assert "Twilio answered 500" in call_back(client, request_id).text
    twilio.fail_status = None

    twilio.answer_override = {"sid": "", "status": "queued"}  # 201, but no call in it
    odd = call_back(client, request_id)
    assert odd.status_code == 502 and "without a call sid" in odd.text
    twilio.answer_override = None

    stored = attempts(engine, request_id)
    assert [a.outcome for a in stored] == ["failed", "failed", "failed"]
    assert "21210" in stored[0].detail
    shown = card(client.get("/review/callbacks").text, request_id)
    assert shown.count("failed") >= 3 and "Call back now" in shown  # it can be tried again


def test_requests_that_must_fail(server, twilio, engine):
    request_id = new_request(engine, "CA" + "f" * 32)
    anonymous = httpx.Client(base_url=server.http, follow_redirects=False, timeout=10)
    assert anonymous.get("/review/callbacks").status_code == 303
    for path in (f"/review/callbacks/{request_id}/call", f"/review/callbacks/{request_id}/done"):
        reply = anonymous.post(path, data={"csrf_token": "x", "note": "x"})
        assert reply.status_code == 303 and reply.headers["location"] == "/review/login"

    client = login(server.http)
    for path in (f"/review/callbacks/{request_id}/call", f"/review/callbacks/{request_id}/done"):
        assert client.post(path, data={"csrf_token": "guess", "note": "x"}).status_code == 403
        assert client.post(path, data={"note": "x"}).status_code == 403
    assert twilio.requests == []  # nothing was placed

    token = csrf(client.get("/review/callbacks").text)
    assert (
        client.post("/review/callbacks/999999/call", data={"csrf_token": token}).status_code == 404
    )
    assert client.post(
        "/review/callbacks/99999999999999/call", data={"csrf_token": token}
    ).status_code in (404, 422)
    assert client.post("/review/callbacks/x/call", data={"csrf_token": token}).status_code == 422

    assert call_back(client, request_id).status_code == 303
    again = call_back(client, request_id)  # a double click while the first one rings
    assert again.status_code == 409 and "already ringing" in again.text
    assert len(twilio.requests) == 1

    long_note = "n" * 4001
    refused = client.post(
        f"/review/callbacks/{request_id}/done", data={"csrf_token": token, "note": long_note}
    )
    assert refused.status_code == 400 and long_note in refused.text  # kept, never cut
    assert "at most 4000" in refused.text
    ok = client.post(f"/review/callbacks/{request_id}/done", data={"csrf_token": token, "note": ""})
    assert ok.status_code == 303
    twice = client.post(f"/review/callbacks/{request_id}/done", data={"csrf_token": token})
    assert twice.status_code == 409 and "already marked done" in twice.text
    assert call_back(client, request_id).status_code == 409  # done: not called again

    # Twilio's callbacks must be signed by Twilio, for the URL Twilio called.
    url = f"{server.http}/twilio/callback-dial?attempt=1"
    assert httpx.post(url, data={"DialCallStatus": "completed"}).status_code == 403
    forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    assert httpx.post(url, data={"DialCallStatus": "completed"}, headers=forged).status_code == 403
    assert twilio.report(f"{server.http}/twilio/callback-dial?attempt=x", {}).status_code == 400
    unknown = twilio.report(
        f"{server.http}/twilio/callback-status?attempt=424242", {"CallStatus": "busy"}
    )
    assert unknown.status_code == 204  # answered (no retries), nothing changed
