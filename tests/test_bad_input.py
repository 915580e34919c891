"""Bad input on the media websocket: logged with the call's id, never fatal to anyone else."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from pathlib import Path

import httpx
import psutil
import soundfile as sf
from sqlalchemy import create_engine, text
from websockets.asyncio.client import connect

from telephony.signatures import sign
from telephony.simulator import answer_webhook, simulate_call

SILENCE = base64.b64encode(b"\xff" * 160).decode()


def media(stream_sid: str, n: int) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(n + 2),
            "streamSid": stream_sid,
            "media": {
                "track": "inbound",
                "chunk": str(n + 1),
                "timestamp": str(n * 20),
                "payload": SILENCE,
            },
        }
    )


def start(call_sid: str, stream_sid: str, parameters: dict[str, str]) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "streamSid": stream_sid,
                "accountSid": "AC" + "1" * 32,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


async def abusive_call(server, call_sid: str) -> None:
    stream_sid = "MZ" + "b" * 32
    parameters = await answer_webhook(  # as Twilio: the TwiML's token goes back in `start`
        server.media_url, server.settings, call_sid=call_sid, caller="+15550002222"
    )
    headers = {"X-Twilio-Signature": sign(server.settings, server.settings.stream_url)}
    async with connect(server.media_url, additional_headers=headers) as ws:
        await ws.send(media(stream_sid, 0))  # media before start
        await ws.send("not json at all")
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(start(call_sid, stream_sid, parameters))
        bad = [
            "{{{",
            "[1, 2, 3]",
            json.dumps({"event": "nonsense"}),
            json.dumps({"event": "media", "media": {"payload": "%%% not base64 %%%"}}),
            json.dumps({"event": "media", "media": {"payload": 12345}}),
            json.dumps({"event": "media"}),
            json.dumps({"event": "mark"}),
            json.dumps({"event": "media", "media": {"payload": "A" * 200_000}}),  # oversized
            start(call_sid, stream_sid, parameters),  # a second start
            b"\x00\x01binary garbage",
        ]
        for i in range(100):
            await ws.send(media(stream_sid, i))
            if i < len(bad):
                await ws.send(bad[i])
            await asyncio.sleep(0.02)
        # ...and the connection drops without `stop`.


async def test_bad_frames_are_survived_and_other_calls_go_on(server, samples):
    call_sid = "CA" + "c" * 32
    good, _ = await asyncio.gather(
        simulate_call(
            [samples / "hello.wav"],
            url=server.media_url,
            settings=server.settings,
            transcribe=False,
        ),
        abusive_call(server, call_sid),
    )
    # The well-behaved call next to it was answered.
    assert good.turns[0].latency_ms is not None

    async with httpx.AsyncClient(base_url=server.http) as client:
        assert (await client.get("/healthz")).status_code == 200

    events_path = await wait_for_file(server.recordings, f"{call_sid}.jsonl", "call_end")
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    reasons = [e["reason"] for e in events if e["type"] == "bad_message"]
    assert len(reasons) >= 8, reasons
    assert any("oversized" in r for r in reasons) and any("base64" in r for r in reasons)
    assert any("invalid JSON" in r for r in reasons)
    assert events[-1]["type"] == "call_end" and events[-1]["reason"] == "connection_lost"
    # The recording of the abused call was finalised and is readable.
    audio, rate = sf.read(events_path.with_suffix(".wav"))
    assert rate == 8000 and audio.shape[1] == 2 and len(audio) > 8000
    # The call's row is finished too (store writes land just after the call ends).
    engine = create_engine(server.database_url)
    for _ in range(100):
        with engine.connect() as db:
            row = (
                db.execute(
                    text("select end_reason, ended_at from calls where call_sid=:s"),
                    {"s": call_sid},
                )
                .mappings()
                .one_or_none()
            )
        if row is not None and row["ended_at"] is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None and row["end_reason"] == "connection_lost"
    # Log lines about bad messages name the call.
    assert any(
        call_sid in line and "bad media stream message" in line
        for line in server.log().splitlines()
    )


async def wait_for_file(root: Path, name: str, last_event: str, timeout: float = 15) -> Path:
    for _ in range(int(timeout / 0.1)):
        found = list(root.rglob(name))
        if found and last_event in found[0].read_text():
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never got {last_event}")


BOMBS = ["20000000", "1e12", 10**400, "1e308", "inf", "-inf", "nan", "-1e308", "-20000000"]


async def test_a_timestamp_bomb_does_not_grow_the_process(server):
    """The attack: one media frame stamped 20000000 ms sized the recorder's buffer to it
    (about 305 MB more in the process, more for larger values: enough to get every live call
    killed); a non-finite one ended the call with OverflowError. Timestamps are clamped to a
    window around the call's own clock, non-finite ones ignored: the process grows by no more
    than a call does, and the call goes on."""
    process = psutil.Process(server.process.pid)
    call_sid, stream_sid = f"CA{secrets.token_hex(16)}", f"MZ{secrets.token_hex(16)}"
    parameters = await answer_webhook(
        server.media_url, server.settings, call_sid=call_sid, caller="+15550002222"
    )
    headers = {"X-Twilio-Signature": sign(server.settings, server.settings.stream_url)}
    async with connect(server.media_url, additional_headers=headers) as ws:
        await ws.send(start(call_sid, stream_sid, parameters))
        for i in range(50):  # a second of a normal call first: the greeting, the models warm
            await ws.send(media(stream_sid, i))
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        before = process.memory_info().rss
        for n, bomb in enumerate(BOMBS, start=50):
            frame = json.loads(media(stream_sid, n))
            frame["media"]["timestamp"] = bomb
            await ws.send(json.dumps(frame))
            await asyncio.sleep(0.3)  # past the recorder's next flush
        peak = process.memory_info().rss
        for i in range(60, 110):  # ...and the call goes on
            await ws.send(media(stream_sid, i))
            await asyncio.sleep(0.02)
        after = process.memory_info().rss
        assert ws.close_code is None  # still open
    grown_mb = (max(peak, after) - before) / 2**20
    assert grown_mb < 40, f"the server grew by {grown_mb:.0f} MB"
    events_path = await wait_for_file(server.recordings, f"{call_sid}.jsonl", "call_end")
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    reasons = [e["reason"] for e in events if e["type"] == "bad_message"]
    assert reasons.count("media timestamp is not a finite number") == 3, reasons
    assert events[-1]["reason"] == "connection_lost"  # not "error"
    assert events_path.with_suffix(".wav").stat().st_size < 2 * 2**20  # seconds, not hours
    log = server.log()
    assert "OverflowError" not in log
    assert not [line for line in log.splitlines() if call_sid in line and "call failed" in line]
