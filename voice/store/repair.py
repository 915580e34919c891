"""After a crash: make interrupted recordings readable and close their calls.

A killed process leaves calls without an end and WAV headers that may lag the audio on disk
by up to one flush. On start-up, calls owned by a process of this host that no longer runs
get their WAV header rewritten from the file's real size, a `call_end` event with reason
`interrupted`, and their row closed.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice.logs import get_logger
from voice.store.calls import Store
from voice.store.live import end_live_call
from voice.store.schema import Call, LiveCall

log = get_logger("voice.repair")  # the name its logs have always carried


def worker_id() -> str:
    """Which process owns a live call: host name and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's call: not ours to judge
    if int(pid) == os.getpid():
        return False  # a call row of ours from before a restart that reused our pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def repair_wav(path: Path) -> float:
    """Rewrite a PCM WAV header's sizes from the file's length; returns its duration (s)."""
    with path.open("r+b") as fh:
        header = fh.read(44)
        if len(header) < 44 or header[:4] != b"RIFF" or header[36:40] != b"data":
            return 0.0
        channels, rate = struct.unpack("<HI", header[22:28])
        bits = struct.unpack("<H", header[34:36])[0]
        frame = channels * bits // 8
        size = os.fstat(fh.fileno()).st_size
        data = (size - 44) // frame * frame
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + data))
        fh.seek(40)
        fh.write(struct.pack("<I", data))
    return float(data / frame / rate)


def close_interrupted_calls(store: Store) -> list[str]:
    closed = []
    with Session(store.engine) as db, db.begin():
        open_calls = db.scalars(select(Call).where(Call.ended_at.is_(None))).all()
        for call in open_calls:
            if call.worker and _alive(call.worker):
                continue
            duration = _repair_files(call)
            call.ended_at = datetime.now(UTC)
            call.duration_s = duration
            call.end_reason = "interrupted"
            call.outcome = call.outcome or "abandoned"
            closed.append(call.call_sid)
    if closed:
        log.warning("closed calls interrupted by a crash", calls=closed)
    _end_orphaned_live_calls(store)
    return closed


def _end_orphaned_live_calls(store: Store) -> None:
    """Live rows whose worker is gone leave the live console (their calls were closed above,
    or by the worker of another host when it restarts)."""
    with Session(store.engine) as db:
        rows = db.execute(
            select(LiveCall.call_sid, LiveCall.worker).where(LiveCall.status == "live")
        ).all()
    for call_sid, owner in rows:
        if not owner or not _alive(owner):
            end_live_call(store.engine, call_sid, "interrupted")


def _repair_files(call: Call) -> float:
    duration = 0.0
    wav, events = Path(call.recording_path), Path(call.events_path)
    if wav.is_file():
        duration = repair_wav(wav)
    if events.is_file():
        with events.open("a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "type": "call_end",
                        "t": round(duration, 3),
                        "time": datetime.now(UTC).isoformat(),
                        "reason": "interrupted",
                        "duration_s": round(duration, 3),
                    }
                )
                + "\n"
            )
    return duration
