"""Listen-in's fan-out: publishing never waits, a slow listener loses its oldest audio (counted)
while the others get everything, and every stream ends when the call does."""

from __future__ import annotations

import asyncio
import time

from voice.supervision.listen import QUEUE_BLOCKS, ListenHub

CALL = "CA" + "5" * 32


async def test_a_slow_listener_loses_old_audio_and_holds_nobody_up():
    hub = ListenHub()
    assert hub.listen(CALL) is None  # not a call of this worker
    hub.open_call(CALL)
    slow, fast = hub.listen(CALL), hub.listen(CALL)
    assert slow is not None and fast is not None and hub.listening(CALL) == 2
    received: list[bytes] = []

    async def read() -> None:
        async for block in fast.blocks():
            received.append(block)

    reader = asyncio.create_task(read())
    started = time.perf_counter()
    for n in range(200):  # 50 s of audio; the slow listener never reads
        hub.publish(CALL, n.to_bytes(2, "little") * 1000)
        await asyncio.sleep(0)
    publishing = time.perf_counter() - started
    hub.close_call(CALL)
    await asyncio.wait_for(reader, 2)
    assert len(received) == 200  # the fast listener got every block, in order
    assert [int.from_bytes(b[:2], "little") for b in received] == list(range(200))
    assert slow.queue.qsize() <= QUEUE_BLOCKS and slow.dropped >= 200 - QUEUE_BLOCKS
    kept = [b async for b in slow.blocks()]  # the newest ones, then the end
    assert [int.from_bytes(b[:2], "little") for b in kept] == list(range(200 - len(kept), 200))
    assert publishing < 0.5  # never waited on anyone
    assert not hub.holds(CALL) and hub.listen(CALL) is None


async def test_leaving_and_publishing_from_another_thread():
    hub = ListenHub()
    hub.open_call(CALL)
    listener = hub.listen(CALL)
    await asyncio.to_thread(hub.publish, CALL, b"\x01\x00" * 4)  # e.g. a recorder off the loop
    await asyncio.sleep(0.05)
    assert listener.queue.qsize() == 1
    hub.leave(listener)
    hub.publish(CALL, b"\x02\x00")
    assert listener.queue.qsize() == 1 and hub.listening(CALL) == 0
