"""Bounded capacity: beyond MAX_CALLS the caller hears that we are busy, and no stream opens.

With MAX_CALLS=1 and one call in progress, the voice webhook answers `<Say>` + `<Hangup/>`
instead of `<Connect><Stream>`, and a media stream that opens anyway is closed with 1013
("try again later"). Once the call ends, the next caller is connected again.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telephony.local_server import LocalServer
from telephony.signatures import sign

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


async def open_stream(server: LocalServer, call_sid: str) -> ClientConnection:
    """A media stream as Twilio opens it: signed upgrade, `connected`, `start`."""
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
                    "customParameters": {"caller": "+15550001111"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    return ws


async def close_code(server: LocalServer, call_sid: str) -> int | None:
    """How the server closed a stream it refused (it may close before or after `start`)."""
    try:
        async with asyncio.timeout(10):
            ws = await open_stream(server, call_sid)
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
    assert (await webhook(server, first_sid)).find("./Connect/Stream") is not None
    first = await open_stream(server, first_sid)
    try:
        await wait_active(server, 1)

        busy = await webhook(server, second_sid)
        assert busy.find("./Connect") is None
        say = busy.find("./Say")
        assert say is not None and "busy" in (say.text or "").lower()
        assert busy.find("./Hangup") is not None

        assert await close_code(server, second_sid) == TRY_AGAIN_LATER
        assert await active_calls(server) == 1
    finally:
        await first.close()

    await wait_active(server, 0)
    assert (await webhook(server, "CA" + "3" * 32)).find("./Connect/Stream") is not None
