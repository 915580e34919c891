"""Calls to review, made up: a temp SQLite database and recordings folder holding a few calls
with stereo WAVs, turns and JSONL events, and the review router served by uvicorn in a thread.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from review.auth import save_manager
from review.config import ReviewConfig
from review.routes import create_review_router
from voice.settings import Settings
from voice.store.calls import Store
from voice.store.schema import Call, Customer, Turn

RATE = 8000
MANAGER, PASSWORD = "maria", "correct horse battery"
NOW = datetime.now(UTC).replace(microsecond=0)

# (role, start_s, end_s, text, latency_ms, interrupted, sentiment score, escalation p)
CALM = [
    ("agent", 0.2, 2.0, "Hello, thanks for calling Acme. How can I help?", None, False, None, None),
    (
        "caller",
        2.6,
        4.4,
        "Hi, where is my order 1234? I wanted a refund update.",
        None,
        False,
        0.3,
        0.05,
    ),
    (
        "agent",
        5.1,
        7.8,
        "Order 1234 shipped yesterday and arrives on Friday.",
        640.0,
        False,
        None,
        None,
    ),
    ("caller", 8.4, 9.6, "Great, that is all. Thank you!", None, False, 0.8, 0.02),
    ("agent", 10.2, 11.8, "You are welcome. Goodbye!", 580.0, False, None, None),
]
ANGRY = [
    ("agent", 0.2, 2.0, "Hello, thanks for calling Acme. How can I help?", None, False, None, None),
    (
        "caller",
        2.5,
        4.5,
        "I was charged twice for my card and nobody calls me back.",
        None,
        False,
        -0.5,
        0.4,
    ),
    (
        "agent",
        5.4,
        8.6,
        "I am sorry to hear that. Could you tell me the last four digits?",
        1720.0,
        True,
        None,
        None,
    ),
    (
        "caller",
        7.0,
        9.5,
        "This is ridiculous, I want to speak to a real person now!",
        None,
        False,
        -0.9,
        0.93,
    ),
    (
        "agent",
        10.4,
        12.6,
        "I understand. I am connecting you to a colleague now.",
        900.0,
        False,
        None,
        None,
    ),
]


@dataclass
class ReviewWorld:
    root: Path
    settings: Settings
    store: Store
    sids: dict[str, str] = field(default_factory=dict)  # label -> CallSid

    @property
    def recordings(self) -> Path:
        return self.settings.recordings_dir


def synth_wav(path: Path, turns: list[tuple], seconds: float) -> None:
    """Stereo 8 kHz: a warbling tone in the caller's (left) or agent's (right) channel per turn."""
    frames = np.zeros((int(seconds * RATE), 2), dtype=np.int16)
    for role, start, end, *_ in turns:
        a, b = int(start * RATE), int(end * RATE)
        t = np.arange(b - a) / RATE
        envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t) ** 2  # syllable-like
        tone = np.sin(2 * np.pi * (220 if role == "caller" else 330) * t) * envelope * 12000
        frames[a:b, 0 if role == "caller" else 1] = tone.astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames.tobytes())


def _events(path: Path, sid: str, caller: str, turns: list[tuple], extra: list[dict]) -> None:
    lines = [{"type": "call_start", "t": 0.0, "caller": caller, "call_sid": sid}]
    for role, start, end, text, latency, interrupted, score, _p in turns:
        lines.append(
            {
                "type": f"{role}_turn",
                "t": end,
                "text": text,
                "start": start,
                "end": end,
                "latency_ms": latency,
                "interrupted": interrupted,
            }
        )
        if score is not None:
            lines.append(
                {
                    "type": "sentiment",
                    "t": end,
                    "score": score,
                    "label": "negative" if score < 0 else "positive",
                }
            )
    lines += extra
    lines.sort(key=lambda e: e["t"])
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"type": "cut sh'  # torn line
    path.write_text(text)


def add_call(
    world: ReviewWorld,
    sid: str,
    caller: str,
    started_at: datetime,
    turns: list[tuple],
    *,
    outcome: str,
    wav: bool = True,
    events: list | None = None,
    **columns,
) -> None:
    """Write the call's row, turns and (optionally) its WAV and JSONL where the recorder would."""
    folder = world.recordings / started_at.strftime("%Y-%m-%d")
    wav_path, events_path = folder / f"{sid}.wav", folder / f"{sid}.jsonl"
    seconds = max((t[2] for t in turns), default=1.0) + 0.8
    if wav:
        synth_wav(wav_path, turns, seconds)
        folder.mkdir(parents=True, exist_ok=True)
        _events(events_path, sid, caller, turns, events or [])
    columns.setdefault("end_reason", "hangup")
    scores = [t[6] for t in turns if t[6] is not None]
    latencies = sorted(t[4] for t in turns if t[4] is not None)
    call = Call(
        call_sid=sid,
        caller=caller,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=seconds),
        duration_s=seconds,
        turns=sum(t[0] == "caller" for t in turns),
        outcome=outcome,
        min_sentiment=min(scores) if scores else None,
        median_latency_ms=latencies[len(latencies) // 2] if latencies else None,
        recording_path=str(wav_path),
        events_path=str(events_path),
        **columns,
    )
    with Session(world.store.engine) as db, db.begin():
        db.add(call)
        for index, (role, start, end, text, latency, interrupted, score, p) in enumerate(turns):
            db.add(
                Turn(
                    call_sid=sid,
                    index=index,
                    role=role,
                    text=text,
                    start_s=start,
                    end_s=end,
                    latency_ms=latency,
                    interrupted=interrupted,
                    sentiment_score=score,
                    sentiment_label=""
                    if score is None
                    else ("negative" if score < 0 else "positive"),
                    escalation_probability=p,
                )
            )


def make_world(root: Path, fillers: int = 12) -> ReviewWorld:
    recordings = root / "recordings"
    recordings.mkdir(parents=True)
    settings = Settings(
        _env_file=None,
        RECORDINGS_DIR=str(recordings),
        DATABASE_URL=f"sqlite:///{root / 'review.db'}",
    )
    world = ReviewWorld(root, settings, Store(settings.database))
    with Session(world.store.engine) as db, db.begin():
        db.add_all(
            [
                Customer(phone="+15551234567", name="Alice Example"),
                Customer(phone="+15559876543", name="Bob Brown"),
            ]
        )
    world.sids = {
        "calm": "CA" + "a" * 32,
        "angry": "CA" + "b" * 32,
        "silent": "CA" + "c" * 32,
        "outside": "CA" + "d" * 32,
        "symlink": "CA" + "e" * 32,
    }
    add_call(
        world,
        world.sids["calm"],
        "+15551234567",
        NOW - timedelta(hours=1),
        CALM,
        outcome="resolved",
        summary="Alice asked where order 1234 is; it arrives Friday.",
        topics="order status, delivery",
        events=[
            {
                "type": "understood",
                "t": 4.5,
                "intent": "order_status",
                "values": {"order_number": "1234"},
            },
            {"type": "call_end", "t": 12.5, "reason": "hangup"},
        ],
    )
    add_call(
        world,
        world.sids["angry"],
        "+15559876543",
        NOW - timedelta(hours=2),
        ANGRY,
        outcome="escalated",
        escalated=True,
        end_reason="transferred",
        escalation_rule="human_request",
        escalation_reason="Caller asked for a person about a double charge",
        escalation_turn=3,
        summary="Bob was double charged and asked for a person.",
        topics="billing, card",
        events=[
            {"type": "barge_in", "t": 7.1, "caller_speech_start": 7.0},
            {"type": "clear_sent", "t": 7.2},
            {"type": "keypad_entry", "t": 6.0, "digits": "4321"},
            {
                "type": "escalation",
                "t": 9.7,
                "rule": "human_request",
                "reason": "Caller asked for a person about a double charge",
                "turns": 2,
            },
            {"type": "call_end", "t": 13.0, "reason": "transferred"},
        ],
    )
    add_call(
        world,
        world.sids["silent"],
        "+442079460958",
        NOW - timedelta(days=3),
        CALM[:2],
        outcome="abandoned",
        wav=False,
        topics="order status",
    )
    # Rows whose stored paths lead outside RECORDINGS_DIR: the files exist, and must not be served.
    secret = root / "secret.wav"
    synth_wav(secret, CALM, 12.5)
    add_call(
        world,
        world.sids["outside"],
        "+15550000001",
        NOW - timedelta(days=4),
        CALM[:1],
        outcome="abandoned",
        wav=False,
    )
    link_day = world.recordings / (NOW - timedelta(days=5)).strftime("%Y-%m-%d")
    link_day.mkdir(parents=True, exist_ok=True)
    (link_day / f"{world.sids['symlink']}.wav").symlink_to(secret)
    add_call(
        world,
        world.sids["symlink"],
        "+15550000002",
        NOW - timedelta(days=5),
        CALM[:1],
        outcome="abandoned",
        wav=False,
    )
    with Session(world.store.engine) as db, db.begin():
        db.get(Call, world.sids["outside"]).recording_path = str(recordings / ".." / "secret.wav")
        db.get(Call, world.sids["symlink"]).recording_path = str(
            link_day / f"{world.sids['symlink']}.wav"
        )
    for i in range(fillers):  # enough calls for a second page
        add_call(
            world,
            f"CAf{i:031d}",
            f"+1555000{i:04d}",
            NOW - timedelta(days=6, hours=i),
            CALM[:2],
            outcome="resolved",
            wav=False,
            topics="opening hours",
        )
    save_manager(world.store.engine, MANAGER, PASSWORD)
    return world


def review_app(world: ReviewWorld, **config: object) -> FastAPI:
    """The review router on a bare app, as `telephony/app.py` includes it."""
    app = FastAPI()
    app.state.store = world.store
    settings = {"cookie_secure": "never", "page_size": 10, "timezone": "UTC", **config}
    app.include_router(
        create_review_router(world.settings, ReviewConfig.of(world.settings, **settings))
    )
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free 127.0.0.1 port; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # As behind a reverse proxy on this host named in TRUSTED_PROXIES: X-Forwarded-For from
    # 127.0.0.1 is the client's address (`callcentre serve` believes it from nobody by default).
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
