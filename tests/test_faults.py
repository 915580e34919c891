"""Faults: the server dies mid-call, the LLM is down, the database is locked, the TTS fails.

What was recorded survives, the call is closed and stored, the caller is never left in silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf
from sqlalchemy import create_engine, text

from telephony.local_server import LocalServer
from telephony.simulator import simulate_call


async def test_sigkill_mid_call_then_restart_repairs_the_recording(tmp_path, samples):
    first = LocalServer(tmp_path).start()
    call = asyncio.create_task(
        simulate_call(
            [samples / "long_question.wav", samples / "hello.wav"],
            url=first.media_url,
            settings=first.settings,
            transcribe=False,
            reply_timeout_s=5,
        )
    )
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


async def test_llm_down_the_caller_still_gets_an_answer_quickly(tmp_path):
    from telephony.evaluation import CallerVoice

    question = CallerVoice(tmp_path / "voice").wav_for("How long do I have to return an item?")
    env = {
        "LLM_BACKEND": "openai",
        "LLM_MODEL": "unreachable",
        "LLM_BASE_URL": "http://127.0.0.1:9/v1",
    }  # nothing listens on port 9
    with LocalServer(tmp_path / "server", extra_env=env) as server:
        result = await simulate_call(
            [question], url=server.media_url, settings=server.settings, transcribe=False
        )
        events = [
            json.loads(line)
            for line in next(server.recordings.rglob(f"{result.call_sid}.jsonl"))
            .read_text()
            .splitlines()
        ]
    # What was heard and how it was read, should the LLM not have been asked.
    heard = [e for e in events if e["type"] in ("caller_turn", "understood", "agent_turn")]
    assert any(e["type"] == "llm_error" for e in events), heard
    answer = [e for e in events if e["type"] == "agent_turn"][-1]
    assert "30" in answer["text"] or "return" in answer["text"].lower()  # the policy, not silence
    # No dead air: the answer started within 2 s of the end of the caller's turn (plus the
    # turn-end detection), and the server process kept serving.
    assert result.turns[0].latency_ms is not None and result.turns[0].latency_ms < 4000
    assert answer["latency_ms"] < 3000


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def wait_for_file(folder: Path, name: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = next(folder.rglob(name), None)
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no {name} under {folder}")


async def wait_for_event(path: Path, kind: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(e["type"] == kind for e in read_events(path)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {kind} event in {path}")
        await asyncio.sleep(0.05)


async def test_database_locked_mid_call_nothing_lost_and_no_dead_air(tmp_path, samples):
    """SQLite is locked while the caller speaks a turn and is answered, and for longer than
    its busy timeout (5 s) after the turn's row was queued, so that write fails and is
    retried. The caller hears every reply as quickly as usual; once the lock is gone the
    call's rows all land, in order, and the call is finished."""
    call_sid = f"CA{secrets.token_hex(16)}"
    with LocalServer(tmp_path) as server:
        call = asyncio.create_task(
            simulate_call(
                [samples / "hello.wav", samples / "order_status.wav", samples / "goodbye.wav"],
                url=server.media_url,
                settings=server.settings,
                transcribe=False,
                call_sid=call_sid,
            )
        )
        events_path = await wait_for_file(server.recordings, f"{call_sid}.jsonl")
        await wait_for_event(events_path, "agent_turn")  # the greeting was heard
        db_file = server.database_url.removeprefix("sqlite:///")
        lock = sqlite3.connect(db_file, isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")  # the caller starts speaking now
        locked = datetime.now(UTC)
        try:
            await wait_for_event(events_path, "caller_turn")
            await asyncio.sleep(6.0)  # past the busy timeout of the turn's queued write
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        unlocked = datetime.now(UTC)
        result = await asyncio.wait_for(call, 90)
        events = read_events(events_path)
        engine = create_engine(server.database_url)
        deadline = time.monotonic() + 15
        while True:  # the queued writes land after the lock, within the retry backoff
            with engine.connect() as db:
                row = (
                    db.execute(text("select * from calls where call_sid=:s"), {"s": call_sid})
                    .mappings()
                    .one_or_none()
                )
                turns = db.execute(
                    text('select role, text from turns where call_sid=:s order by "index"'),
                    {"s": call_sid},
                ).all()
            if (row is not None and row["ended_at"] is not None) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        log = server.log()
    # Every turn was answered, without extra delay.
    replies = [e for e in events if e["type"] == "agent_turn" and e["latency_ms"] is not None]
    assert len(result.turns) == 3 and len(replies) == 3
    for turn in result.turns:
        assert turn.latency_ms is not None and turn.latency_ms < 4000, result.turns
    assert all(r["latency_ms"] < 3000 for r in replies), replies
    assert sum(e["type"] == "caller_turn" for e in events) == 3
    # The first turn was spoken and its answer started playing while the lock was held.
    heard = next(e for e in events if e["type"] == "caller_turn")
    assert locked < datetime.fromisoformat(heard["time"])
    unlocked_t = heard["t"] + (unlocked - datetime.fromisoformat(heard["time"])).total_seconds()
    answer = next(e for e in events if e["type"] == "agent_turn" and e["t"] > heard["t"])
    assert answer["start"] < unlocked_t, (answer, unlocked_t)
    # The writes waited out the lock (logged once, not per retry), then landed.
    assert log.count("database unavailable") == 1 and "store writes resumed" in log
    # Nothing lost: the database holds what the JSONL holds, in order, and the call's end.
    expected = [
        ("caller" if e["type"] == "caller_turn" else "agent", e["text"])
        for e in events
        if e["type"] in ("caller_turn", "agent_turn")
    ]
    assert [tuple(t) for t in turns] == expected
    end = events[-1]
    assert end["type"] == "call_end"
    assert row is not None and row["ended_at"] is not None
    assert row["end_reason"] == end["reason"] and row["turns"] == 3


async def test_tts_failing_the_caller_hears_an_apology_then_a_person(tmp_path, samples):
    """Every speech synthesis fails (FAULT_TTS=error, after start-up): the caller hears the
    pre-rendered apology, never silence, and with the voice still failing the call is handed
    to a person in the pre-rendered hand-over line."""
    from twilio_standin import TwilioStandin

    from telephony.local_server import DEV_ACCOUNT_SID

    with TwilioStandin(DEV_ACCOUNT_SID, LocalServer.token) as twilio:
        call_sid = twilio.add_call(f"CA{secrets.token_hex(16)}")
        env = {
            "FAULT_TTS": "error",
            "TWILIO_API_BASE": twilio.base_url,
            "HUMAN_AGENT_NUMBER": "+15550007777",
        }
        with LocalServer(tmp_path, extra_env=env) as server:
            result = await simulate_call(
                [samples / "hello.wav", samples / "order_status.wav"],
                url=server.media_url,
                settings=server.settings,
                transcribe=False,
                call_sid=call_sid,
            )
            events = read_events(next(server.recordings.rglob(f"{call_sid}.jsonl")))
            engine = create_engine(server.database_url)
            deadline = time.monotonic() + 10
            while True:
                with engine.connect() as db:
                    row = (
                        db.execute(text("select * from calls where call_sid=:s"), {"s": call_sid})
                        .mappings()
                        .one_or_none()
                    )
                if (row is not None and row["outcome"]) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        transferred = [r for r in twilio.requests if r.call_sid == call_sid]
    apology = (
        (Path(__file__).resolve().parent.parent / "prompts" / "speech_trouble.txt")
        .read_text()
        .strip()
    )
    greeting, *replies = [e for e in events if e["type"] == "agent_turn"]
    assert greeting["text"] == apology  # not the greeting, which failed, and not silence
    first = result.turns[0].caller_start_s
    assert np.abs(result.agent_audio[: int(first * 8000)]).max() > 1000
    # Every caller turn was answered within 2 s of the end of the caller's speech.
    assert len(replies) == 2
    for turn in result.turns:
        assert turn.latency_ms is not None and turn.latency_ms < 3000, result.turns
    assert all(r["latency_ms"] is not None and r["latency_ms"] < 2000 for r in replies), replies
    # The failures are on record; the voice kept failing, so the call went to a person, in
    # the hand-over line rendered at start-up.
    errors = [e for e in events if e["type"] == "tts_error"]
    assert len(errors) >= 3 and all("injected TTS fault" in e["error"] for e in errors)
    escalation = next(e for e in events if e["type"] == "escalation")
    assert escalation["rule"] == "tts_failure" and escalation["turns"] == [0]
    assert "putting you through to a colleague" in replies[0]["text"]
    assert replies[1]["text"] == apology
    assert transferred and any(e["type"] == "transferred" for e in events)
    # The call is stored.
    assert row is not None and row["ended_at"] is not None and row["escalated"]
    assert row["escalation_rule"] == "tts_failure" and row["outcome"] == "escalated"


async def test_a_stalled_tts_is_given_up_on_and_the_apology_played(tmp_path, monkeypatch):
    """FAULT_TTS=hang: the engine stalls; after `timeout_s` the sentence counts as failed,
    the caller hears the apology at once, and the reply's next sentence is not a second
    apology. A fixed line still plays from its start-up rendering."""
    from pipecat.frames.frames import TTSAudioRawFrame
    from pipecat.tests.utils import run_test

    from voice.engines import tts as tts_module
    from voice.pipeline.frames import AgentSentenceFrame, SpeechMarkFrame
    from voice.pipeline.speaker import SentenceSpeaker
    from voice.session import CallSession
    from voice.store.calls import Store

    monkeypatch.setattr(tts_module, "FAULT_HANG_S", 1.0)  # threads it holds end soon after
    engine = tts_module.FaultyEngine(tts_module.HibariEngine(), "hang")
    tts = tts_module.SpeechSynthesizer(engine, timeout_s=0.3)
    tts.prepare("Sorry, I'm having trouble speaking right now.", ["Please stay on the line."])
    engine.arm()
    session = CallSession(
        "CAhang", "MZ1", "", tmp_path / "rec", Store(f"sqlite:///{tmp_path / 'calls.db'}")
    )
    started = time.perf_counter()
    down, _ = await run_test(
        SentenceSpeaker(session, tts),
        frames_to_send=[
            AgentSentenceFrame(text="Your order shipped on Friday.", reply_id=1, index=0),
            AgentSentenceFrame(text="It arrives on Tuesday.", reply_id=1, index=1),
            AgentSentenceFrame(reply_id=1, index=2, last=True),
            AgentSentenceFrame(text="Please stay on the line.", reply_id=2, index=0),
            AgentSentenceFrame(reply_id=2, index=1, last=True),
        ],
    )
    assert time.perf_counter() - started < 3 * 0.3 + 1.0  # bounded waits, never the stall
    audio = [f.audio for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio == [tts.apology, tts.prepared["Please stay on the line."]]
    marks = [f.mark_name for f in down if isinstance(f, SpeechMarkFrame)]
    assert marks == ["r1s0", "r1s3", "r2s0", "r2s2"]
    assert session.playback.heard_text(1) == ""  # nothing played yet: no mark came back
    assert [s.text for s in session.playback.sentences(1) if s.text] == [tts.apology_text]
    session.close("completed")
    events = read_events(session.recorder.events_path)
    errors = [e for e in events if e["type"] == "tts_error"]
    # The fixed line played from memory, without the engine: it proves nothing about the
    # engine, so the failures in a row still count (the next caller turn goes to a person).
    assert [e["error"] for e in errors] == ["TimeoutError: "] * 2
    assert session.tts_failures_in_a_row == 2


async def test_caller_hangs_up_mid_utterance_what_they_said_is_kept(tmp_path, samples):
    """The caller hangs up 2.5 s into an 8.7 s question: Twilio sends `stop` and closes. The
    call ends as `caller_hangup`, the recording keeps the caller's words up to the hang-up,
    and the row is finished: nothing of the call is lost, nothing waits on a turn never ended."""
    call_sid = f"CA{secrets.token_hex(16)}"
    with LocalServer(tmp_path) as server:
        probe = await simulate_call(
            [], url=server.media_url, settings=server.settings, transcribe=False
        )  # how long the greeting lasts
        hang_up_at = probe.duration_s + 2.5
        result = await simulate_call(
            [samples / "long_question.wav"],
            url=server.media_url,
            settings=server.settings,
            transcribe=False,
            call_sid=call_sid,
            hangup_after_s=hang_up_at,
        )
        events_path = await wait_for_file(server.recordings, f"{call_sid}.jsonl")
        await wait_for_event(events_path, "call_end")
        row = await finished_row(server, call_sid)
    (turn,) = result.turns
    assert turn.caller_start_s < hang_up_at < turn.caller_start_s + 8.0  # mid-question
    events = read_events(events_path)
    assert events[-1]["type"] == "call_end" and events[-1]["reason"] == "caller_hangup"
    assert any(e["type"] == "stop_received" for e in events)
    # The recording holds the call up to the hang-up, the caller's words in the left channel.
    audio, rate = sf.read(events_path.with_suffix(".wav"))
    assert rate == 8000 and audio.shape[1] == 2
    assert abs(len(audio) / rate - result.duration_s) < 1.0
    spoken = audio[int(turn.caller_start_s * rate) : int(hang_up_at * rate), 0]
    assert np.sqrt(np.mean(spoken**2)) > 0.01, "the caller's words before the hang-up"
    assert row["end_reason"] == "caller_hangup" and row["duration_s"] > 0


async def finished_row(server: LocalServer, call_sid: str, timeout: float = 15) -> dict:
    """The call's row once it is finished (store writes land just after the call ends)."""
    engine = create_engine(server.database_url)
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as db:
            row = (
                db.execute(text("select * from calls where call_sid=:s"), {"s": call_sid})
                .mappings()
                .one_or_none()
            )
        if row is not None and row["ended_at"] is not None:
            return dict(row)
        assert time.monotonic() < deadline, f"{call_sid} never finished in the database"
        await asyncio.sleep(0.2)
