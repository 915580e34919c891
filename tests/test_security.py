"""Only Twilio gets in: every webhook and the media websocket must carry a valid signature."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from telephony.signatures import sign
from telephony.simulator import SimulatorError, simulate_call
from telephony.twiml import connect_stream
from voice.settings import Settings

CALL = {
    "CallSid": "CA" + "a" * 32,
    "AccountSid": "AC" + "1" * 32,
    "From": "+15550001111",
    "To": "+15550009999",
    "CallStatus": "ringing",
}


def test_stream_url_follows_public_url():
    s = Settings(_env_file=None, PUBLIC_URL="https://agent.example.com/")
    assert s.stream_url == "wss://agent.example.com/twilio/media"
    assert s.public("/twilio/voice") == "https://agent.example.com/twilio/voice"


def test_twiml_connects_a_bidirectional_stream_with_parameters():
    root = ET.fromstring(
        connect_stream(
            "wss://agent.example.com/twilio/media", caller="+15550001111", call_sid="CA123"
        )
    )
    stream = root.find("./Connect/Stream")
    assert stream is not None and root.find("./Start") is None
    assert stream.get("url") == "wss://agent.example.com/twilio/media"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"caller": "+15550001111", "callSid": "CA123"}


async def test_voice_webhook_refuses_unsigned_and_wrongly_signed(server):
    async with httpx.AsyncClient(base_url=server.http) as client:
        unsigned = await client.post("/twilio/voice", data=CALL)
        forged = await client.post(
            "/twilio/voice", data=CALL, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        )
        tampered_sig = sign(server.settings, server.settings.public("/twilio/voice"), CALL)
        tampered = await client.post(
            "/twilio/voice",
            data={**CALL, "From": "+19999999999"},
            headers={"X-Twilio-Signature": tampered_sig},
        )
    assert unsigned.status_code == forged.status_code == tampered.status_code == 403


async def test_voice_webhook_answers_connect_stream(server):
    signature = sign(server.settings, server.settings.public("/twilio/voice"), CALL)
    async with httpx.AsyncClient(base_url=server.http) as client:
        answer = await client.post(
            "/twilio/voice", data=CALL, headers={"X-Twilio-Signature": signature}
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(answer.text).find("./Connect/Stream")
    assert stream.get("url") == server.settings.stream_url
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"caller": CALL["From"], "callSid": CALL["CallSid"]}


async def test_status_callback_must_be_signed(server):
    form = {"CallSid": CALL["CallSid"], "CallStatus": "completed", "CallDuration": "12"}
    async with httpx.AsyncClient(base_url=server.http) as client:
        unsigned = await client.post("/twilio/status", data=form)
        signed = await client.post(
            "/twilio/status",
            data=form,
            headers={
                "X-Twilio-Signature": sign(
                    server.settings, server.settings.public("/twilio/status"), form
                )
            },
        )
    assert unsigned.status_code == 403
    assert signed.status_code == 204


async def test_media_websocket_refuses_unsigned_upgrade(server):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with connect(server.media_url):
            pass
    assert refused.value.response.status_code == 403


async def test_simulator_reports_a_refused_stream(server, samples):
    with pytest.raises(SimulatorError, match="403"):
        await simulate_call(
            [samples / "hello.wav"],
            url=server.media_url,
            settings=server.settings,
            signature="d3Jvbmc=",
            transcribe=False,
        )


async def test_health(server):
    async with httpx.AsyncClient(base_url=server.http) as client:
        health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
