"""Faults: the server dies mid-call; what was recorded survives and the call is closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path

import soundfile as sf
from sqlalchemy import create_engine, text

from telephony.local_server import LocalServer
from telephony.simulator import simulate_call


async def test_sigkill_mid_call_then_restart_repairs_the_recording(tmp_path, samples):
    first = LocalServer(tmp_path).start()
    call = asyncio.create_task(simulate_call(
        [samples / "long_question.wav", samples / "hello.wav"], url=first.media_url,
        settings=first.settings, transcribe=False, reply_timeout_s=5))
    await asyncio.sleep(12)  # greeting heard, the caller is mid-question
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    with contextlib.suppress(Exception):  # the simulator sees the connection drop: the point
        await asyncio.wait_for(call, 30)

    second = LocalServer(tmp_path)  # the same folder and database, a new process
    with second:
        engine = create_engine(second.database_url)
        with engine.connect() as db:
            row = db.execute(text("select * from calls")).mappings().one()
    assert row["end_reason"] == "interrupted" and row["ended_at"] is not None
    audio, rate = sf.read(row["recording_path"], dtype="int16")
    assert audio.shape[1] == 2
    assert len(audio) / rate >= 12 - 1.0  # at most about a second lost
    assert row["duration_s"] >= 11
    events = [json.loads(line) for line in Path(row["events_path"]).read_text().splitlines()]
    assert events[0]["type"] == "call_start"
    assert events[-1] == {**events[-1], "type": "call_end", "reason": "interrupted"}
    assert any(e["type"] == "agent_turn" for e in events)  # the greeting was logged
