"""Call-store writes off the event loop, in order, retried until the database takes them.

A locked or unreachable database must neither stall a call (dead air while SQLite waits out
its busy timeout) nor lose what happened. Every write of a live call goes onto one FIFO
queue served by one daemon thread: a write that fails because the database is unavailable
is retried (0.2 s doubling to 5 s, for as long as it takes) before anything behind it, so
each call's rows land in the order they happened. What is still queued when the process
exits is attempted once more and logged if lost; the call's JSONL file holds it regardless.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from voice import metrics
from voice.logs import get_logger

log = get_logger("voice.store_writer")  # the name its logs have always carried

FIRST_RETRY_S = 0.2
MAX_RETRY_S = 5.0
SHUTDOWN_FLUSH_S = 10.0  # at exit, how long queued writes may still take


@dataclass
class _Write:
    call_sid: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


def is_unavailable(exc: BaseException) -> bool:
    """The database could not take the write now (locked, down, connection lost): retry."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class StoreWriter:
    """One thread, one queue. `submit` never blocks; `flush` waits, bounded."""

    def __init__(
        self, first_retry_s: float = FIRST_RETRY_S, max_retry_s: float = MAX_RETRY_S
    ) -> None:
        self._first_retry_s, self._max_retry_s = first_retry_s, max_retry_s
        self._queue: deque[_Write] = deque()
        self._pending: Counter[str] = Counter()  # queued or in flight, per call
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.outages = 0  # times the database became unavailable (each logged once)

    def submit(self, call_sid: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        with self._cond:
            self._queue.append(_Write(call_sid, fn, args, kwargs))
            self._pending[call_sid] += 1
            metrics.STORE_PENDING_WRITES.set(len(self._queue))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def pending(self, call_sid: str | None = None) -> int:
        with self._cond:
            return self._pending[call_sid] if call_sid else sum(self._pending.values())

    def _calls(self) -> list[str]:
        with self._cond:
            return sorted(self._pending)

    def flush(self, call_sid: str | None = None, timeout: float = 5.0) -> bool:
        """Wait until the call's (or every) write has landed; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending[call_sid] if call_sid else any(self._pending.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                write = self._queue[0]  # stays first until it has landed: order is kept
            self._attempt(write)
            with self._cond:
                self._queue.popleft()
                self._pending[write.call_sid] -= 1
                if not self._pending[write.call_sid]:
                    del self._pending[write.call_sid]
                metrics.STORE_PENDING_WRITES.set(len(self._queue))
                self._cond.notify_all()

    def _attempt(self, write: _Write) -> None:
        delay, failing_since = self._first_retry_s, None
        while True:
            try:
                write.fn(*write.args, **write.kwargs)
            except Exception as exc:
                if not is_unavailable(exc):  # a bug, not an outage: retrying cannot help
                    log.exception("store write failed", call_sid=write.call_sid, write=write.name)
                    return
                if failing_since is None:
                    failing_since = time.monotonic()
                    self.outages += 1
                    log.warning(
                        "database unavailable: store writes wait and retry",
                        call_sid=write.call_sid,
                        write=write.name,
                        error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                        pending=self.pending(),
                        calls=self._calls(),
                    )
                time.sleep(delay)
                delay = min(delay * 2, self._max_retry_s)
                continue
            if failing_since is not None:
                log.info(
                    "database available again: store writes resumed",
                    call_sid=write.call_sid,
                    write=write.name,
                    waited_s=round(time.monotonic() - failing_since, 2),
                    pending=self.pending(),
                )
            return

    def shutdown(self, timeout: float = SHUTDOWN_FLUSH_S) -> None:
        """At exit: give queued writes `timeout` to land, then log each one that did not."""
        if self.flush(timeout=timeout):
            return
        with self._cond:
            lost = list(self._queue)
        for write in lost:
            log.error(
                "store write lost at exit (the call's JSONL file still has it)",
                call_sid=write.call_sid,
                write=write.name,
            )


_writer: StoreWriter | None = None
_writer_lock = threading.Lock()


def get_writer() -> StoreWriter:
    """The process-wide writer (created, with its exit hook, on first use)."""
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = StoreWriter()
            atexit.register(_writer.shutdown)
        return _writer
