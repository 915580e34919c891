"""The store writer: writes wait out an unavailable database, in order, and nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from voice.session import CallSession
from voice.store.calls import Store
from voice.store.writer import StoreWriter


def turn_texts(store: Store, call_sid: str) -> list[tuple[int, str, str]]:
    call = store.get_call(call_sid)
    assert call is not None
    return [(t.index, t.role, t.text) for t in call.turn_rows]


def test_writes_wait_for_an_unreachable_database_then_land_in_order(tmp_path: Path):
    folder = tmp_path / "db"
    store = Store(f"sqlite:///{folder / 'calls.db'}")
    writer = StoreWriter(first_retry_s=0.05, max_retry_s=0.2)
    store.engine.dispose()  # the database goes away: no pooled connection, no file
    folder.rename(tmp_path / "away")

    writer.submit("CA1", store.start_call, "CA1", "+15550001111", "MZ1", "", "")
    for i, role in enumerate(["agent", "caller", "agent", "caller"]):
        writer.submit("CA1", store.add_turn, "CA1", role, f"turn {i}", i, i + 1)
    writer.submit("CA1", store.finish_call, "CA1", "completed")
    time.sleep(0.6)  # several retries
    assert writer.pending("CA1") == 6 and writer.outages == 1  # logged once, not per retry
    assert not writer.flush("CA1", timeout=0.1)

    (tmp_path / "away").rename(folder)  # back
    assert writer.flush("CA1", timeout=5)
    assert writer.pending() == 0 and writer.outages == 1
    assert turn_texts(store, "CA1") == [
        (0, "agent", "turn 0"),
        (1, "caller", "turn 1"),
        (2, "agent", "turn 2"),
        (3, "caller", "turn 3"),
    ]
    call = store.get_call("CA1")
    assert call is not None and call.end_reason == "completed" and call.turns == 2


def test_a_write_that_is_a_bug_is_logged_and_does_not_block_the_others(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    writer = StoreWriter()

    def broken() -> None:
        raise ValueError("not a database problem")

    writer.submit("CA1", store.start_call, "CA1", "", "MZ1", "", "")
    writer.submit("CA1", broken)
    writer.submit("CA2", store.start_call, "CA2", "", "MZ2", "", "")
    writer.submit("CA1", store.finish_call, "CA1", "completed")
    assert writer.flush(timeout=5)
    assert writer.outages == 0
    assert store.get_call("CA1").end_reason == "completed"  # type: ignore[union-attr]
    assert store.get_call("CA2") is not None


async def test_a_locked_database_never_blocks_the_call(tmp_path: Path):
    """The call goes on while SQLite is locked; its rows land once the lock is gone."""
    db_path = tmp_path / "calls.db"
    store = Store(f"sqlite:///{db_path}")
    lock = sqlite3.connect(db_path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        started = time.perf_counter()
        session = CallSession("CAlocked", "MZ1", "+15550001111", tmp_path / "rec", store)
        session.agent_turn("Hello, how can I help?", 0.0, 1.5, None, False)
        session.caller_turn("Where is my order?", 2.0, 3.0, "en")
        session.close("completed")
        assert time.perf_counter() - started < 0.5  # nothing waited on the lock
        assert session.stored is not None
        await asyncio.sleep(1.0)
        assert not session.stored.done() and store.get_call("CAlocked") is None
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert await session.stored  # landed well within its 5 s
    call = store.get_call("CAlocked")
    assert call is not None and call.end_reason == "completed" and call.ended_at is not None
    assert [(t.role, t.text) for t in call.turn_rows] == [
        ("agent", "Hello, how can I help?"),
        ("caller", "Where is my order?"),
    ]
    # The call's times are when it happened, not when the rows landed.
    assert call.duration_s is not None and call.duration_s < 1.0


def test_a_write_may_take_call_sid_as_a_keyword(tmp_path: Path):
    """`request_callback(engine, call_sid=...)` goes through the writer like any write."""
    writer, seen = StoreWriter(), []
    writer.submit(
        "CA2",
        lambda *, call_sid, phone: seen.append((call_sid, phone)),
        call_sid="CA2",
        phone="+15550001111",
    )
    assert writer.flush("CA2", timeout=5)
    assert seen == [("CA2", "+15550001111")]
