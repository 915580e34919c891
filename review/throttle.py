"""Slowing down password guessing without handing anyone a way to lock a manager out.

Wrong passwords are counted per (client address, name): after `per_name` of them within
`window`, that address is refused for that name until the oldest of them is `window` old. The
same manager signing in from any other address is not affected, so knowing a manager's name is
no longer enough to keep them out. A looser cap per address over all names (`per_address`)
slows one address trying many names. A refused attempt never reaches the password check.

Addresses can be many (a botnet, or a client that picks its own X-Forwarded-For through a proxy
that passes it on), so wrong passwords are also counted per name over all addresses: past
`per_name_all` within `window`, each further try for that name must wait `slow_base` seconds
after the last wrong one, doubling with every further wrong one up to `slow_max` (a minute).
That caps guessing one name at about a try a minute from the whole internet. It is a slow-down,
not a lock: the wait is short, and an address that signed in as that name before (within
`known_for`) is not slowed by it, so the manager's own browser keeps working.

The counts live in this process's memory: a restart forgets them, and with several workers an
address gets that many tries per worker. The client address is the TCP peer unless
TRUSTED_PROXIES names the reverse proxy in front (then it is the address that proxy forwards in
X-Forwarded-For); uvicorn's own default of believing that header from 127.0.0.1 is switched off
by `callcentre serve` (telephony/cli.py), since a tunnel agent or a pass-through proxy on the
same host would let every guesser choose its address.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_KEYS = 10_000  # remembered (address, name) pairs, addresses and names; the oldest go first


@dataclass
class LoginThrottle:
    per_name: int = 5  # wrong passwords for one name from one address, per window
    per_address: int = 30  # wrong passwords from one address over all names, per window
    per_name_all: int = 10  # wrong passwords for one name from all addresses before slowing
    window: float = 15 * 60.0  # seconds
    slow_base: float = 2.0  # the first wait past per_name_all, doubling per wrong password
    slow_max: float = 60.0
    known_for: float = 30 * 24 * 3600.0  # an address that signed in as a name: not slowed
    clock: Callable[[], float] = time.monotonic
    _by_name: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _by_address: dict[str, deque[float]] = field(default_factory=dict)
    _by_name_all: dict[str, deque[float]] = field(default_factory=dict)
    _known: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _name(name: str) -> str:
        return name.strip().casefold()[:64]

    @classmethod
    def _key(cls, address: str, name: str) -> tuple[str, str]:
        return address, cls._name(name)

    def retry_after(self, address: str, name: str) -> int:
        """Seconds until `address` may try `name` again; 0 when it may now."""
        return self.check(address, name)[0]

    def check(self, address: str, name: str) -> tuple[int, str]:
        """(seconds to wait, why): "address" when this address is refused, "name" when the
        name is being slowed down for everyone; (0, "") when the attempt may go ahead."""
        with self._lock:
            now = self.clock()
            by_address = max(
                self._wait(self._by_name, self._key(address, name), self.per_name, now),
                self._wait(self._by_address, address, self.per_address, now),
            )
            if by_address:
                return by_address, "address"
            by_name = 0 if self._is_known(address, name, now) else self._slowed(name, now)
        return (by_name, "name") if by_name else (0, "")

    def failed(self, address: str, name: str) -> None:
        with self._lock:
            now = self.clock()
            self._note_failure(self._by_name, self._key(address, name), now)
            self._note_failure(self._by_address, address, now)
            self._note_failure(self._by_name_all, self._name(name), now)

    def _note_failure(self, table: dict[Any, deque[float]], key: object, now: float) -> None:
        times = self._recent(table, key, now)
        times.append(now)
        table.pop(key, None)
        table[key] = times  # most recently failed last, for trimming
        self._trim(table, now)

    def succeeded(self, address: str, name: str) -> None:
        """A right password clears that name's count for that address, and remembers the
        address as one this manager uses."""
        with self._lock:
            key = self._key(address, name)
            self._by_name.pop(key, None)
            self._known.pop(key, None)
            self._known[key] = self.clock()
            while len(self._known) > MAX_KEYS:
                del self._known[next(iter(self._known))]

    def _is_known(self, address: str, name: str, now: float) -> bool:
        since = self._known.get(self._key(address, name))
        return since is not None and now - since < self.known_for

    def _slowed(self, name: str, now: float) -> int:
        times = self._recent(self._by_name_all, self._name(name), now)
        over = len(times) - self.per_name_all
        if over < 0:
            return 0
        wait = min(self.slow_max, self.slow_base * 2**over) - (now - times[-1])
        return max(0, math.ceil(wait))

    def _recent(self, table: dict, key: object, now: float) -> deque[float]:
        times = table.get(key) or deque(maxlen=max(self.per_address, self.per_name_all) + 16)
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
