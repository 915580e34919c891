"""Slowing down password guessing without handing anyone a way to lock a manager out.

Wrong passwords are counted per (client address, name): after `per_name` of them within
`window`, that address is refused for that name until the oldest of them is `window` old. The
same manager signing in from any other address is not affected, so knowing a manager's name is
no longer enough to keep them out. A looser cap per address over all names (`per_address`)
slows one address trying many names. A refused attempt never reaches the password check.

The counts live in this process's memory: a restart forgets them, and with several workers an
address gets that many tries per worker. Behind a reverse proxy the client address is the one
uvicorn takes from `X-Forwarded-For` (it trusts that header from 127.0.0.1 by default,
`FORWARDED_ALLOW_IPS` otherwise); without it every visitor looks like the proxy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 10_000  # remembered (address, name) pairs and addresses; the oldest go first


@dataclass
class LoginThrottle:
    per_name: int = 5  # wrong passwords for one name from one address, per window
    per_address: int = 30  # wrong passwords from one address over all names, per window
    window: float = 15 * 60.0  # seconds
    clock: Callable[[], float] = time.monotonic
    _by_name: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _by_address: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _key(address: str, name: str) -> tuple[str, str]:
        return address, name.strip().casefold()[:64]

    def retry_after(self, address: str, name: str) -> int:
        """Seconds until `address` may try `name` again; 0 when it may now."""
        with self._lock:
            now = self.clock()
            waits = [
                self._wait(self._by_name, self._key(address, name), self.per_name, now),
                self._wait(self._by_address, address, self.per_address, now),
            ]
        return max(waits)

    def failed(self, address: str, name: str) -> None:
        with self._lock:
            now = self.clock()
            for table, key in (
                (self._by_name, self._key(address, name)),
                (self._by_address, address),
            ):
                times = self._recent(table, key, now)
                times.append(now)
                table.pop(key, None)
                table[key] = times  # most recently failed last, for trimming
                self._trim(table, now)

    def succeeded(self, address: str, name: str) -> None:
        """A right password clears that name's count for that address."""
        with self._lock:
            self._by_name.pop(self._key(address, name), None)

    def _recent(self, table: dict, key: object, now: float) -> deque[float]:
        times = table.get(key) or deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _wait(self, table: dict, key: object, limit: int, now: float) -> int:
        times = self._recent(table, key, now)
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self.window - now))

    def _trim(self, table: dict, now: float) -> None:
        if len(table) <= MAX_KEYS:
            return
        for key in [k for k, times in table.items() if times[-1] <= now - self.window]:
            del table[key]
        while len(table) > MAX_KEYS:
            del table[next(iter(table))]
