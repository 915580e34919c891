"""Listen-in: a live call's audio, as its recording has it, fanned out to the managers listening.

The recorder hands every block of stereo audio it writes (caller left, agent right, 16-bit PCM
at 8 kHz, about every quarter second, ~0.3 s behind the call) to the hub. Each listener has a
small queue of its own; publishing never waits: a listener whose queue is full (a slow network,
a stalled browser) loses its oldest block, which is counted, so one slow manager can neither
delay the call nor the other listeners. Only the worker holding a call has its audio.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from voice import metrics

QUEUE_BLOCKS = 6  # ~1.5 s of audio waits for a listener at most; older blocks are dropped
RATE = 8000
CHANNELS = 2  # caller left, agent right: as the recording


@dataclass
class Listener:
    call_sid: str
    queue: asyncio.Queue[bytes | None]
    loop: asyncio.AbstractEventLoop
    dropped: int = 0
    sent: int = 0

    async def blocks(self) -> AsyncIterator[bytes]:
        """Audio blocks until the call ends (or the listener is removed)."""
        while True:
            block = await self.queue.get()
            if block is None:
                return
            self.sent += 1
            yield block


@dataclass
class _Call:
    listeners: list[Listener] = field(default_factory=list)


class ListenHub:
    """One per worker. `publish` is called by the recorder on the event loop's thread; it is
    also safe from any other thread (it then hands the block over with call_soon_threadsafe)."""

    def __init__(self, queue_blocks: int = QUEUE_BLOCKS) -> None:
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self._queue_blocks = queue_blocks

    def holds(self, call_sid: str) -> bool:
        with self._lock:
            return call_sid in self._calls

    def open_call(self, call_sid: str) -> None:
        with self._lock:
            self._calls.setdefault(call_sid, _Call())

    def close_call(self, call_sid: str) -> None:
        """The call ended: every listener's stream ends after what it already has."""
        with self._lock:
            call = self._calls.pop(call_sid, None)
        for listener in call.listeners if call else []:
            self._deliver(listener, None)
            metrics.LISTENERS.dec()

    def listen(self, call_sid: str) -> Listener | None:
        """A new listener, or None when this worker does not hold the call."""
        loop = asyncio.get_running_loop()
        listener = Listener(call_sid, asyncio.Queue(self._queue_blocks), loop)
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None:
                return None
            call.listeners.append(listener)
        metrics.LISTENERS.inc()
        return listener

    def leave(self, listener: Listener) -> None:
        with self._lock:
            call = self._calls.get(listener.call_sid)
            if call is None or listener not in call.listeners:
                return
            call.listeners.remove(listener)
        metrics.LISTENERS.dec()

    def listening(self, call_sid: str) -> int:
        with self._lock:
            call = self._calls.get(call_sid)
            return len(call.listeners) if call else 0

    def publish(self, call_sid: str, block: bytes) -> None:
        """Hand a block to each listener of the call; never blocks, never raises."""
        with self._lock:
            call = self._calls.get(call_sid)
            listeners = list(call.listeners) if call else []
        for listener in listeners:
            self._deliver(listener, block)

    def _deliver(self, listener: Listener, block: bytes | None) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is listener.loop:
            _put(listener, block)
        elif not listener.loop.is_closed():
            listener.loop.call_soon_threadsafe(_put, listener, block)


def _put(listener: Listener, block: bytes | None) -> None:
    """Queue the block; when full, the oldest waiting block goes (the end marker never)."""
    queue = listener.queue
    while queue.full():
        dropped = queue.get_nowait()
        if dropped is None:  # the end already queued: keep it last
            queue.put_nowait(None)
            return
        listener.dropped += 1
        metrics.LISTEN_DROPPED.inc()
    queue.put_nowait(block)


_hub = ListenHub()


def shared_hub() -> ListenHub:
    return _hub
