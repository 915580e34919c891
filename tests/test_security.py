"""Only Twilio gets in: every webhook and the media websocket must carry a valid signature, and
a media stream also the one-use token our own signed webhook put in its TwiML."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, text
from websockets.asyncio.client import connect

from telephony.signatures import sign
from telephony.simulator import SimulatorError, answer_webhook, simulate_call
from telephony.stream_tokens import StreamTokenRefused, StreamTokens, mint
from telephony.twiml import connect_stream
from voice.settings import Settings
from voice.store.calls import Store

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
        connect_stream("wss://agent.example.com/twilio/media", call_sid="CA123", token="v1.x")
    )
    stream = root.find("./Connect/Stream")
    assert stream is not None and root.find("./Start") is None
    assert stream.get("url") == "wss://agent.example.com/twilio/media"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"callSid": "CA123", "token": "v1.x"}  # no caller number in the TwiML


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
    assert set(params) == {"callSid", "token"} and params["callSid"] == CALL["CallSid"]
    assert params["token"].startswith(f"v1.{CALL['CallSid']}.")


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


# --- media streams: only with the one-use token of our own signed webhook (issue 13, item 1) ---

KNOWN_CUSTOMER = "+15551234567"  # Maria Lopez in the sample business, with an open order


async def webhook_parameters(server, call_sid: str, caller: str = "+15550001111") -> dict:
    return await answer_webhook(server.media_url, server.settings, call_sid=call_sid, caller=caller)


def start_frame(call_sid: str, parameters: object) -> str:
    stream_sid = "MZ" + secrets.token_hex(16)
    start = {
        "callSid": call_sid,
        "streamSid": stream_sid,
        "accountSid": "AC" + "1" * 32,
        "tracks": ["inbound"],
        "customParameters": parameters,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    return json.dumps(
        {"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": start}
    )


async def open_with_stolen_signature(
    server, call_sid: str, parameters: object, seconds: float = 2.5
) -> tuple[int | None, str, int]:
    """Open a stream with the upgrade signature every real stream carries (it covers only the
    URL: whoever saw one header has them all), send `start`, then caller silence for a while.
    Returns the close code, its reason and how many agent audio frames came back."""
    stolen = sign(server.settings, server.settings.stream_url)
    silence = base64.b64encode(b"\xff" * 160).decode()
    agent_frames = 0
    async with connect(server.media_url, additional_headers={"X-Twilio-Signature": stolen}) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(start_frame(call_sid, parameters))
        try:
            for i in range(int(seconds / 0.02)):
                media = {"track": "inbound", "timestamp": str(i * 20), "payload": silence}
                await ws.send(json.dumps({"event": "media", "media": media}))
                with contextlib.suppress(TimeoutError):
                    while True:
                        message = json.loads(await asyncio.wait_for(ws.recv(), 0.001))
                        agent_frames += message.get("event") == "media"
                await asyncio.sleep(0.02)
        except websockets.ConnectionClosed:
            pass
        await ws.close()
    return ws.close_code, ws.close_reason or "", agent_frames


def log_lines(server, *needles: str) -> list[str]:
    return [line for line in server.log().splitlines() if all(n in line for n in needles)]


def nothing_recorded(server, call_sid: str) -> bool:
    files = list(server.recordings.rglob(f"{call_sid}.*"))
    with create_engine(server.database_url).connect() as db:
        row = db.execute(text("select 1 from calls where call_sid=:s"), {"s": call_sid}).first()
    return files == [] and row is None


async def test_a_forged_stream_with_a_stolen_upgrade_signature_is_refused(server):
    """The attack: the stolen upgrade header, a made-up CallSid and a known customer's number
    as the `caller` parameter. Before, the agent greeted the stranger as Maria Lopez and read
    out her open order. Now: refused before any audio, with a reason and one log line."""
    call_sid = "CA" + secrets.token_hex(16)
    code, reason, agent_frames = await open_with_stolen_signature(
        server, call_sid, {"caller": KNOWN_CUSTOMER, "callSid": call_sid}
    )
    assert (code, reason) == (1008, "stream token missing")
    assert agent_frames == 0
    await asyncio.sleep(0.5)
    assert nothing_recorded(server, call_sid)
    assert len(log_lines(server, call_sid, "stream token missing")) == 1


@pytest.mark.parametrize(
    "forgery, reason",
    [
        ("another call's token", "stream token issued for another call"),
        ("expired", "stream token expired"),
        ("other secret", "stream token bad signature"),
        ("tampered expiry", "stream token bad signature"),
        ("garbage", "stream token malformed"),
        ("not a string", "stream token malformed"),
    ],
)
async def test_forged_expired_and_cross_call_tokens_are_refused(server, forgery, reason):
    call_sid = "CA" + secrets.token_hex(16)
    now = int(time.time())
    if forgery == "another call's token":  # a real token, seen in some other call's TwiML
        token = (await webhook_parameters(server, "CA" + secrets.token_hex(16)))["token"]
    elif forgery == "expired":  # signed with the server's own secret, but its time is up
        token = mint(server.stream_secret, call_sid, now - 5)
    elif forgery == "other secret":
        token = mint("not-the-server-secret", call_sid, now + 60)
    elif forgery == "tampered expiry":
        real = (await webhook_parameters(server, call_sid))["token"]
        version, sid, expires, nonce, signature = real.split(".")
        token = ".".join([version, sid, str(int(expires) + 3600), nonce, signature])
    elif forgery == "garbage":
        token = "v1." + call_sid + ".x"
    else:
        token = {"token": "v1"}
    code, got, agent_frames = await open_with_stolen_signature(
        server, call_sid, {"callSid": call_sid, "token": token, "caller": KNOWN_CUSTOMER}, 1.0
    )
    assert (code, got) == (1008, reason)
    assert agent_frames == 0
    assert len(log_lines(server, call_sid, reason)) == 1


async def test_a_used_token_does_not_open_a_second_stream(server, samples):
    """Replay: the TwiML's parameters of a finished call, sent again."""
    call_sid = "CA" + secrets.token_hex(16)
    parameters = await webhook_parameters(server, call_sid)
    _, _, agent_frames = await open_with_stolen_signature(server, call_sid, parameters, 3.0)
    assert agent_frames > 0  # the real stream got its greeting
    again = await webhook_parameters(server, call_sid)  # a replayed webhook: the same token
    assert again == parameters
    code, reason, agent_frames = await open_with_stolen_signature(server, call_sid, parameters, 1.0)
    assert code == 1008 and reason in (
        "this call already has a stream",
        "stream token already used",
    )
    assert agent_frames == 0


async def test_the_caller_number_is_the_signed_webhooks_not_the_streams(server):
    """A valid token with a `caller` parameter added: the call is John Carter's (the webhook's
    From), whatever number the stream claims."""
    call_sid = "CA" + secrets.token_hex(16)
    parameters = await webhook_parameters(server, call_sid, caller="+15550001111")
    _, _, agent_frames = await open_with_stolen_signature(
        server, call_sid, {**parameters, "caller": KNOWN_CUSTOMER, "From": KNOWN_CUSTOMER}, 3.0
    )
    assert agent_frames > 0
    engine = create_engine(server.database_url)
    for _ in range(50):
        with engine.connect() as db:
            caller = db.scalar(text("select caller from calls where call_sid=:s"), {"s": call_sid})
        if caller:
            break
        await asyncio.sleep(0.1)
    assert caller == "+15550001111"


def test_stream_tokens_verify_once_for_their_own_call(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    now = [1_800_000_000.0]
    settings = Settings(_env_file=None, STREAM_TOKEN_SECRET="s" * 64, STREAM_TOKEN_TTL_S=30)
    tokens = StreamTokens(settings, store, clock=lambda: now[0])
    other_worker = StreamTokens(settings, store, clock=lambda: now[0])  # same DB and secret
    token = tokens.issue("CA1", "+15550001111")
    assert tokens.issue("CA1", "+15550001111") == token  # a retried webhook: the same token
    assert other_worker.check("CA1", token)
    with pytest.raises(StreamTokenRefused, match="another call"):
        tokens.check("CA2", token)
    nonce = tokens.check("CA1", token)
    assert other_worker.use("CA1", nonce) == "+15550001111"  # read from the database
    with pytest.raises(StreamTokenRefused, match="already used"):
        tokens.use("CA1", nonce)
    with pytest.raises(StreamTokenRefused, match="already used"):
        other_worker.use("CA1", nonce)
    late = tokens.issue("CA3", "+15550001111")
    now[0] += 31
    with pytest.raises(StreamTokenRefused, match="expired"):
        tokens.check("CA3", late)
    unknown = mint("s" * 64, "CA4", int(now[0]) + 30)  # signed, but no webhook issued it
    with pytest.raises(StreamTokenRefused, match="unknown"):
        tokens.use("CA4", tokens.check("CA4", unknown))
    assert "s" * 64 not in repr(settings)


def test_the_stream_secret_is_generated_once_and_never_printed(tmp_path, monkeypatch, capsys):
    from telephony.cli import serve_settings
    from voice.settings import ensure_stream_token_secret, get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STREAM_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "configured")
    get_settings.cache_clear()
    try:
        settings = serve_settings("127.0.0.1", 8080)
        secret = settings.stream_token_secret
        assert len(secret) == 64
        assert f"STREAM_TOKEN_SECRET={secret}" in (tmp_path / ".env").read_text()
        assert ensure_stream_token_secret() is False  # idempotent
        assert secret not in capsys.readouterr().out
    finally:
        get_settings.cache_clear()


def test_a_database_outage_at_the_webhook_keeps_the_grant_in_this_worker(tmp_path, monkeypatch):
    """A locked or unreachable database must not make the webhook fail (Twilio would play an
    error to the caller): the grant is kept in memory, and still opens one stream only."""
    from sqlalchemy.exc import OperationalError

    import telephony.stream_tokens as stream_tokens

    def down(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    tokens = StreamTokens(Settings(_env_file=None, STREAM_TOKEN_SECRET="s" * 64), store)
    monkeypatch.setattr(stream_tokens, "save_grant", down)
    monkeypatch.setattr(stream_tokens, "use_grant", down)
    token = tokens.issue("CA1", "+15550001111")
    assert tokens.issue("CA1", "+15550001111") == token
    nonce = tokens.check("CA1", token)
    assert tokens.use("CA1", nonce) == "+15550001111"
    with pytest.raises(StreamTokenRefused, match="already used"):
        tokens.use("CA1", nonce)
