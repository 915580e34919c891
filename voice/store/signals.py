"""Wake-ups between workers through the database, not a broker of our own.

A write that others wait for (a live call's row changed, a supervisor queued a command) sends
`pg_notify(channel, call_sid)` in its own transaction on PostgreSQL; each process keeps one
connection LISTENing (a daemon thread) and wakes whoever waits on that channel. SQLite has no
such thing: there, `wait` simply times out at the waiter's poll interval and the waiter reads
the same tables again. Either way the tables are the truth; a signal only says "look now".
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from voice.logs import get_logger

log = get_logger(__name__)

LIVE_CHANNEL = "callcentre_live"  # a live call's row changed (payload: its CallSid)
COMMAND_CHANNEL = "callcentre_commands"  # a supervisor queued a command (payload: CallSid)
CHANNELS = (LIVE_CHANNEL, COMMAND_CHANNEL)
LISTENED_POLL_S = 2.0  # with LISTEN, a slow poll still covers a notification lost in a reconnect
RECONNECT_S = 1.0


def notify(db: Session, channel: str, payload: str) -> None:
    """Tell the other workers, when this transaction commits (PostgreSQL; nothing on SQLite)."""
    bind = db.get_bind()
    if bind.dialect.name == "postgresql":
        db.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


class Signals:
    """One per engine and process: waiters on channels, woken by PostgreSQL notifications."""

    def __init__(self, engine: Engine) -> None:
        self.listening = engine.dialect.name == "postgresql"
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.received = 0  # notifications seen (tests, logs)

    def poll_s(self, fast: float) -> float:
        """How long a waiter sleeps between reads of the tables."""
        return LISTENED_POLL_S if self.listening else fast

    async def wait(self, channel: str, timeout: float) -> bool:
        """Until `channel` is notified (True) or `timeout` passes (False)."""
        if not self.listening:
            await asyncio.sleep(timeout)
            return False
        self._start()
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[channel].add(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter[1].wait()
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters[channel].discard(waiter)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="db-listen", daemon=True)
                self._thread.start()

    def _wake(self, channel: str) -> None:
        self.received += 1
        with self._lock:
            waiters = list(self._waiters.get(channel, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _listen(self) -> None:
        import psycopg

        while True:
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    for channel in CHANNELS:
                        connection.execute(f"LISTEN {channel}")
                    for channel in CHANNELS:  # whatever happened while we were away
                        self._wake(channel)
                    for note in connection.notifies():
                        self._wake(note.channel)
            except Exception as exc:
                log.warning("database LISTEN lost; reconnecting", error=type(exc).__name__)
                time.sleep(RECONNECT_S)


_signals: weakref.WeakKeyDictionary[Engine, Signals] = weakref.WeakKeyDictionary()
_signals_lock = threading.Lock()


def signals_for(engine: Engine) -> Signals:
    with _signals_lock:
        found = _signals.get(engine)
        if found is None:
            found = _signals[engine] = Signals(engine)
        return found
