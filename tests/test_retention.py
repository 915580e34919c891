"""Retention: old calls' recordings, transcripts and rows go; nothing else does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from review.search import FTS_TABLE, TranscriptSearch
from voice.store.calls import Store
from voice.store.retention import purge
from voice.store.schema import Call, Turn

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'calls.db'}")


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


def add_call(
    store: Store,
    recordings: Path,
    sid: str,
    age_days: float,
    *,
    ended: bool = True,
    words: str = "my order is late",
    now: datetime = NOW,
) -> tuple[Path, Path]:
    """A call that started `age_days` before `now`, with its two files where the recorder
    puts them."""
    began = now - timedelta(days=age_days)
    day = recordings / began.strftime("%Y-%m-%d")
    day.mkdir(exist_ok=True)
    wav, jsonl = day / f"{sid}.wav", day / f"{sid}.jsonl"
    wav.write_bytes(b"RIFF" + b"\0" * 1000)
    jsonl.write_text(json.dumps({"type": "call_start"}) + "\n")
    store.start_call(sid, "+15550001111", f"MZ{sid}", str(wav), str(jsonl))
    store.add_turn(sid, "caller", words, 0, 1)
    store.add_turn(sid, "agent", "Let me check.", 1, 2)
    if ended:
        store.finish_call(sid, "caller_hangup")
    with store.engine.begin() as db:
        db.execute(update(Call).where(Call.call_sid == sid).values(started_at=began))
    return wav, jsonl


def call_sids(store: Store) -> list[str]:
    with Session(store.engine) as db:
        return sorted(db.scalars(select(Call.call_sid)))


def turn_owners(store: Store) -> set[str]:
    with Session(store.engine) as db:
        return set(db.scalars(select(Turn.call_sid)))


def test_old_calls_go_recent_and_unfinished_ones_stay(store: Store, recordings: Path):
    old = add_call(store, recordings, "CAold", 45)
    older = add_call(store, recordings, "CAolder", 400)
    recent = add_call(store, recordings, "CArecent", 29.5)
    open_old = add_call(store, recordings, "CAopen", 40, ended=False)
    size = sum(p.stat().st_size for p in (*old, *older))
    report = purge(store, recordings, 30, now=NOW)

    assert sorted(report.calls) == ["CAold", "CAolder"] and report.turns == 4
    assert sorted(report.files) == sorted(p.resolve() for p in (*old, *older))
    assert report.bytes_freed == size
    assert not any(p.exists() for p in (*old, *older))
    assert all(p.exists() for p in (*recent, *open_old))
    assert call_sids(store) == ["CAopen", "CArecent"]
    assert turn_owners(store) == {"CAopen", "CArecent"}
    assert report.skipped_open == 1 and report.errors == []
    assert not older[0].parent.exists()  # an emptied day folder goes too
    assert purge(store, recordings, 30, now=NOW).calls == []  # a second run finds nothing


def test_dry_run_deletes_nothing(store: Store, recordings: Path):
    files = add_call(store, recordings, "CAold", 45)
    report = purge(store, recordings, 30, now=NOW, dry_run=True)
    assert report.dry_run and report.calls == ["CAold"] and len(report.files) == 2
    assert all(p.exists() for p in files) and call_sids(store) == ["CAold"]
    assert "would delete 1 calls" in report.summary()


def test_orphaned_recordings_in_old_day_folders_go(store: Store, recordings: Path):
    day = recordings / "2025-01-01"
    day.mkdir()
    (day / "CAorphan.wav").write_bytes(b"RIFF")
    (day / "CAorphan.jsonl").write_text("{}\n")
    (day / "notes.txt").write_text("not a recording: kept")
    today = recordings / NOW.strftime("%Y-%m-%d")
    today.mkdir()
    (today / "CAlive.wav").write_bytes(b"RIFF")  # a call whose row is not written yet
    report = purge(store, recordings, 30, now=NOW)
    assert sorted(p.name for p in report.files) == ["CAorphan.jsonl", "CAorphan.wav"]
    assert (day / "notes.txt").exists() and (today / "CAlive.wav").exists()


def test_never_deletes_outside_the_recordings_folder(
    store: Store, recordings: Path, tmp_path: Path
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    precious = outside / "precious.wav"
    precious.write_bytes(b"RIFF")
    add_call(store, recordings, "CAold", 45)
    with store.engine.begin() as db:  # a row pointing elsewhere, as a tampered row might
        db.execute(
            update(Call)
            .where(Call.call_sid == "CAold")
            .values(
                recording_path=str(recordings / ".." / "elsewhere" / "precious.wav"),
                events_path="/etc/passwd",
            )
        )
    (recordings / "2025-01-01").symlink_to(outside, target_is_directory=True)
    report = purge(store, recordings, 30, now=NOW)
    assert report.calls == ["CAold"] and precious.exists() and Path("/etc/passwd").exists()
    assert all(p.is_relative_to(recordings.resolve()) for p in report.files)


def test_purged_words_leave_the_search_index(store: Store, recordings: Path):
    add_call(store, recordings, "CAold", 45, words="my parrot swallowed the voucher")
    add_call(store, recordings, "CAnew", 1, words="my parrot is fine")
    search = TranscriptSearch()
    search.prepare(store.engine)
    if not search.uses_fts:
        pytest.skip("this SQLite has no FTS5")
    search.sync(store.engine)
    add_call(store, recordings, "CAold2", 45, words="voucher not yet indexed")

    def matches(word: str) -> int:
        with store.engine.connect() as db:
            return len(
                db.execute(
                    text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q"), {"q": word}
                ).all()
            )

    assert matches("voucher") == 1 and matches("parrot") == 2
    purge(store, recordings, 30, now=NOW)
    assert matches("voucher") == 0 and matches("parrot") == 1
    search.sync(store.engine)  # the index stays consistent and keeps working
    assert matches("parrot") == 1


def test_refuses_a_zero_or_negative_age(store: Store, recordings: Path):
    for days in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            purge(store, recordings, days)


def test_cli_logs_every_deletion(tmp_path: Path, store: Store, recordings: Path):
    now = datetime.now(UTC)  # the command purges relative to the real clock
    add_call(store, recordings, "CAold", 45, now=now)
    add_call(store, recordings, "CAnew", 0.1, now=now)
    env = {
        **os.environ,
        "DATABASE_URL": str(store.engine.url),
        "RECORDINGS_DIR": str(recordings),
        "LOG_JSON": "true",
        "HF_HUB_OFFLINE": "1",
    }
    code = (
        "import argparse, sys; from voice.store import retention; p = argparse.ArgumentParser(); "
        "retention.add_arguments(p); sys.exit(retention.run(p.parse_args(sys.argv[1:])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "--older-than-days", "30"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "purge: deleted 1 calls, 2 turns, 2 files" in done.stdout
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    events = [(e["event"], e.get("call_sid")) for e in lines]
    assert events.count(("purged recording", "CAold")) == 2
    assert ("purged call", "CAold") in events and ("purge finished", None) in events
    assert call_sids(store) == ["CAnew"]
