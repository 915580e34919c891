"""Worker threads that take the most urgent waiting job first.

Whisper's threads are shared by every call in the process. A caller who just finished a turn
is waiting for the answer; the pieces of another caller's turn, transcribed while that caller
still speaks (`voice/pipeline/incremental_stt.py`), are not yet awaited by anyone. So pieces
wait behind turn ends, first come first served within each, and a piece whose turn has
ended meanwhile is moved up (`hurry`).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

URGENT, BACKGROUND = 0, 1


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple
    future: Future = field(default_factory=Future)
    taken: bool = False  # a job may sit in the heap twice once hurried: it runs once


class PriorityPool:
    def __init__(
        self,
        workers: int,
        name: str,
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
    ) -> None:
        self._heap: list[tuple[int, int, _Job]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._jobs: dict[int, _Job] = {}  # id(future) -> its job, while it waits
        for i in range(workers):
            thread = threading.Thread(
                target=self._work, args=(initializer, initargs), name=f"{name}_{i}", daemon=True
            )
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = URGENT) -> Future:
        """Run `fn(*args)` on a worker; a waiting job is cancelled with its future."""
        job = _Job(fn, args)
        with self._cond:
            self._jobs[id(job.future)] = job
            heapq.heappush(self._heap, (priority, next(self._order), job))
            self._cond.notify()
        return job.future

    def hurry(self, future: Future) -> None:
        """A waiting job is urgent now (it keeps its place among the urgent by its new time)."""
        with self._cond:
            job = self._jobs.get(id(future))
            if job is not None and not job.taken:
                heapq.heappush(self._heap, (URGENT, next(self._order), job))

    def waiting(self) -> int:
        with self._cond:
            return len(self._jobs)

    def _work(self, initializer: Callable[..., None] | None, initargs: tuple) -> None:
        if initializer is not None:
            initializer(*initargs)
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                _, _, job = heapq.heappop(self._heap)
                if job.taken:
                    continue
                job.taken = True
                self._jobs.pop(id(job.future), None)
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                job.future.set_result(job.fn(*job.args))
            except BaseException as exc:  # handed to whoever awaits it
                job.future.set_exception(exc)
