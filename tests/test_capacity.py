"""Bounded capacity: beyond MAX_CALLS the caller hears that we are busy, and no stream opens.

Capacity is checked when a call is claimed (at `start`), and streams that have not sent
`start` yet count too, for START_TIMEOUT_S at most.

With MAX_CALLS=1 and one call in progress, the voice webhook answers `<Say>` + `<Hangup/>`
instead of `<Connect><Stream>`, and a media stream that opens anyway is closed with 1013
("try again later"). Once the call ends, the next caller is connected again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telephony.local_server import LocalServer
from telephony.signatures import sign
from telephony.simulator import answer_webhook, stream_parameters

TRY_AGAIN_LATER = 1013


@pytest.fixture(scope="module")
def one_call_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("capacity"), extra_env={"MAX_CALLS": "1"}) as s:
        yield s


def call_form(call_sid: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "+15550001111",
        "To": "+15550009999",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


async def webhook(server: LocalServer, call_sid: str) -> ET.Element:
    form = call_form(call_sid)
    signature = sign(server.settings, server.settings.public("/twilio/voice"), form)
    async with httpx.AsyncClient(base_url=server.http) as client:
        answer = await client.post(
            "/twilio/voice", data=form, headers={"X-Twilio-Signature": signature}
        )
    assert answer.status_code == 200
    return ET.fromstring(answer.text)


async def open_stream(
    server: LocalServer, call_sid: str, parameters: dict[str, str] | None = None
) -> ClientConnection:
    """A media stream as Twilio opens it: signed upgrade, `connected`, `start` with the
    `<Parameter>`s of the webhook's TwiML (its one-use token); the webhook is posted here when
    the caller does not pass them."""
    if parameters is None:
        parameters = await answer_webhook(
            server.media_url, server.settings, call_sid=call_sid, caller="+15550001111"
        )
    signature = sign(server.settings, server.settings.stream_url, {})
    ws = await connect(server.media_url, additional_headers={"X-Twilio-Signature": signature})
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    stream_sid = "MZ" + call_sid[2:]
    await ws.send(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": stream_sid,
                "start": {
                    "callSid": call_sid,
                    "streamSid": stream_sid,
                    "accountSid": "AC" + "1" * 32,
                    "tracks": ["inbound"],
                    "customParameters": parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    return ws


def parameters_of(twiml: ET.Element) -> dict[str, str]:
    return stream_parameters(ET.tostring(twiml, encoding="unicode"))


async def close_code(
    server: LocalServer, call_sid: str, parameters: dict[str, str] | None = None
) -> int | None:
    """How the server closed a stream it refused (it may close before or after `start`)."""
    try:
        async with asyncio.timeout(10):
            ws = await open_stream(server, call_sid, parameters)
            async for _ in ws:  # nothing but the close may come
                pass
            await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


async def active_calls(server: LocalServer) -> int:
    async with httpx.AsyncClient(base_url=server.http) as client:
        return (await client.get("/healthz")).json()["active_calls"]


async def wait_active(server: LocalServer, count: int, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await active_calls(server) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"active calls never reached {count}")


async def test_calls_beyond_max_calls_are_told_we_are_busy(one_call_server):
    server = one_call_server
    first_sid, second_sid = "CA" + "1" * 32, "CA" + "2" * 32
    answer = await webhook(server, first_sid)
    assert answer.find("./Connect/Stream") is not None
    first = await open_stream(server, first_sid, parameters_of(answer))
    try:
        await wait_active(server, 1)

        busy = await webhook(server, second_sid)
        assert busy.find("./Connect") is None
        say = busy.find("./Say")
        assert say is not None and "busy" in (say.text or "").lower()
        assert busy.find("./Hangup") is not None

        # A stream that opens anyway (a race, or someone with a captured upgrade).
        assert await close_code(server, second_sid, parameters={}) == TRY_AGAIN_LATER
        assert await active_calls(server) == 1
    finally:
        await first.close()

    await wait_active(server, 0)
    assert (await webhook(server, "CA" + "3" * 32)).find("./Connect/Stream") is not None


async def hold(ws: ClientConnection, seconds: float) -> int | None:
    """Send mu-law silence for a while (a live call); the close code if the server closed it."""
    silence = base64.b64encode(b"\xff" * 160).decode()
    frame = {"event": "media", "media": {"track": "inbound", "payload": silence}}
    try:
        for i in range(int(seconds / 0.02)):
            frame["media"]["timestamp"] = str(i * 20)
            await ws.send(json.dumps(frame))
            await asyncio.sleep(0.02)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


async def test_streams_opened_together_never_make_more_than_max_calls(server):
    """The attack: with MAX_CALLS=3 (the default then), five streams opened together all
    became calls, because capacity was checked when a socket opened and a call only counted
    once its `start` arrived. Now streams still waiting for their `start` hold a place, and
    capacity is checked again when the call is claimed. Two streams more than the default."""
    limit = server.settings.max_calls  # the default, as the shared server runs with it
    sids = [f"CA{i:032x}" for i in range(0xA1, 0xA1 + limit + 2)]
    grants = await asyncio.gather(
        *(
            answer_webhook(server.media_url, server.settings, call_sid=sid, caller="+15550001111")
            for sid in sids
        )
    )  # all answered while nothing was live: a valid token each
    signature = sign(server.settings, server.settings.stream_url, {})
    sockets = await asyncio.gather(
        *(
            connect(server.media_url, additional_headers={"X-Twilio-Signature": signature})
            for _ in sids
        )
    )
    try:
        for ws, sid, grant in zip(sockets, sids, grants, strict=True):
            stream_sid = "MZ" + sid[2:]
            start = {
                "callSid": sid,
                "streamSid": stream_sid,
                "accountSid": "AC" + "1" * 32,
                "tracks": ["inbound"],
                "customParameters": grant,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }
            message = {"event": "start", "streamSid": stream_sid, "start": start}
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(message))
        peak = 0

        async def watch() -> None:
            nonlocal peak
            for _ in range(30):
                peak = max(peak, await active_calls(server))
                await asyncio.sleep(0.1)

        codes, _ = await asyncio.gather(asyncio.gather(*(hold(ws, 3.0) for ws in sockets)), watch())
    finally:
        for ws in sockets:
            await ws.close()
    assert sorted(code for code in codes if code is not None) == [TRY_AGAIN_LATER] * 2, codes
    assert peak == limit
    await wait_active(server, 0)


async def test_a_stream_that_never_starts_gives_its_place_back(one_call_server):
    """A stream waiting for `start` holds the only place (the webhook answers busy, another
    stream gets 1013), for START_TIMEOUT_S at most."""
    server = one_call_server
    signature = sign(server.settings, server.settings.stream_url, {})
    idle = await connect(server.media_url, additional_headers={"X-Twilio-Signature": signature})
    try:
        await asyncio.sleep(0.3)
        busy = await webhook(server, "CA" + "4" * 32)  # the webhook counts it too
        assert busy.find("./Connect") is None and busy.find("./Hangup") is not None
        assert await close_code(server, "CA" + "4" * 32, parameters={}) == TRY_AGAIN_LATER
        async with asyncio.timeout(15):  # the idle one is closed once its time is up
            with contextlib.suppress(ConnectionClosed):
                async for _ in idle:
                    pass
        assert idle.close_code == 1008
    finally:
        await idle.close()
    ws = await open_stream(server, "CA" + "5" * 32)
    try:
        await wait_active(server, 1)
    finally:
        await ws.close()
    await wait_active(server, 0)
