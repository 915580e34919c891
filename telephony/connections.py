"""Slow and idle clients at the HTTP edge: a deadline for every request head, a size cap on
it, and caps on the connections that have not sent one.

uvicorn starts no timer when a connection opens, and a client that trickles its request
head a byte at a time cancels the keep-alive timer with every byte: 30 such connections
stayed open for as long as their clients liked, and enough of them use up the process's file
descriptors, after which no webhook or call gets in. uvicorn's own `limit_concurrency` does
not help: it counts those connections too and answers the *real* requests 503.

So, for every connection that has not yet sent a complete request head (a new one, or a
kept-alive one after its last response):
- the head must arrive within `timeout_s` (HTTP_READ_TIMEOUT_S) or the connection is closed
  (408 when part of a head came);
- a head may be at most `MAX_HEAD_BYTES` (431 past it; httptools has no limit of its own);
- one client address may hold `per_client` such connections (HTTP_MAX_WAITING_PER_CLIENT),
  all clients together `total` (HTTP_MAX_WAITING); past either cap the *oldest* is closed, so
  a new client, whose head comes at once, always gets in. The reverse proxies named in
  TRUSTED_PROXIES are not capped per address (every client arrives from them).
Connections serving a request, and websockets (live calls), are never counted or cut here.
Closed connections are logged as one line, then at most one summary line a minute.

This wraps uvicorn's HTTP protocol class (httptools or h11: both keep `cycle`, `client`,
`transport` and `on_response_complete`) and is passed to `uvicorn.run(http=...)`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Callable
from typing import Any

from voice.logs import get_logger

log = get_logger(__name__)

MAX_HEAD_BYTES = 32 * 1024  # the request line and headers; uvicorn's h11 allows 16 KB
REPORT_EVERY_S = 60.0


def trusted_matcher(trusted_proxies: str) -> Callable[[str], bool]:
    """Whether an address is one of TRUSTED_PROXIES (IPs, CIDRs, or "*")."""
    entries = [p.strip() for p in trusted_proxies.split(",") if p.strip()]
    if "*" in entries:
        return lambda address: True
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a host name: uvicorn matches those literally; so do we
    names = set(entries)

    def trusted(address: str) -> bool:
        if address in names:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    return trusted


class EdgeGuard:
    """The state shared by one server's connections: who is waiting to send a head."""

    def __init__(
        self,
        timeout_s: float,
        per_client: int,
        total: int,
        trusted: Callable[[str], bool] = lambda address: False,
    ) -> None:
        self.timeout_s, self.per_client, self.total = timeout_s, per_client, total
        self.trusted = trusted
        self.waiting: dict[Any, None] = {}  # oldest first
        self.by_client: dict[str, dict[Any, None]] = {}
        self._report = _CutReport()

    @classmethod
    def from_settings(cls, settings: Any) -> EdgeGuard:
        return cls(
            settings.http_read_timeout_s,
            settings.http_max_waiting_per_client,
            settings.http_max_waiting,
            trusted_matcher(settings.trusted_proxies),
        )

    def wait(self, conn: Any) -> None:
        """`conn` now owes us a request head: start its clock, and make room under the caps."""
        self.forget(conn)
        conn._edge_armed = conn.cycle
        conn._edge_bytes = 0
        conn._edge_timer = conn.loop.call_later(self.timeout_s, self._expire, conn)
        address = _address(conn)
        self.waiting[conn] = None
        if not self.trusted(address):
            mine = self.by_client.setdefault(address, {})
            mine[conn] = None
            while len(mine) > self.per_client:
                self.cut(next(iter(mine)), "too many waiting connections from one address")
        while len(self.waiting) > self.total:
            self.cut(next(iter(self.waiting)), "too many waiting connections")

    def is_waiting(self, conn: Any) -> bool:
        return conn in self.waiting

    def progress(self, conn: Any, received: int) -> None:
        """After `received` bytes went to the parser: has the head arrived, or grown too big?"""
        if conn not in self.waiting:
            return
        if conn.transport.get_protocol() is not conn or conn.cycle is not conn._edge_armed:
            self.forget(conn)  # a new request (or a websocket upgrade) has begun
            return
        conn._edge_bytes += received
        if conn._edge_bytes > MAX_HEAD_BYTES:
            self.cut(conn, "request head too large", status=b"431 Request Header Fields Too Large")

    def forget(self, conn: Any) -> None:
        self.waiting.pop(conn, None)
        timer = getattr(conn, "_edge_timer", None)
        if timer is not None:
            timer.cancel()
            conn._edge_timer = None
        address = _address(conn)
        mine = self.by_client.get(address)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.by_client[address]

    def cut(self, conn: Any, why: str, status: bytes | None = None) -> None:
        self.forget(conn)
        transport = conn.transport
        if transport.is_closing():
            return
        if status is None and getattr(conn, "_edge_bytes", False):
            status = b"408 Request Timeout"  # part of a head came: say why we hang up
        if status is not None:
            transport.write(
                b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        transport.close()
        self._report.note(conn.loop, why, _address(conn))

    def _expire(self, conn: Any) -> None:
        conn._edge_timer = None
        if conn in self.waiting:
            self.cut(conn, f"no complete request within {self.timeout_s:g} s")


def _address(conn: Any) -> str:
    client = getattr(conn, "client", None)
    return str(client[0]) if client else "unknown"


class _CutReport:
    """One log line for the first connection closed, then one summary a minute at most."""

    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()
        self.last_address = ""
        self.window: asyncio.TimerHandle | None = None

    def note(self, loop: asyncio.AbstractEventLoop, why: str, address: str) -> None:
        if self.window is None:
            log.warning("closed a slow or idle connection", reason=why, client=address)
            self.window = loop.call_later(REPORT_EVERY_S, self._flush, loop)
            return
        self.pending[why] += 1
        self.last_address = address

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.window = None
        if not self.pending:
            return
        log.warning(
            "closed more slow or idle connections",
            count=sum(self.pending.values()),
            reasons=dict(self.pending),
            last_client=self.last_address,
            period_s=REPORT_EVERY_S,
        )
        self.pending.clear()
        self.window = loop.call_later(REPORT_EVERY_S, self._flush, loop)


def guarded_protocol(base: type[asyncio.Protocol], guard: EdgeGuard) -> type[asyncio.Protocol]:
    """`base` (uvicorn's HTTP protocol class) with `guard` watching every request head."""

    class GuardedHTTPProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            guard.wait(self)

        def data_received(self, data: bytes) -> None:
            waiting = guard.is_waiting(self)
            super().data_received(data)
            if waiting:
                guard.progress(self, len(data))

        def on_response_complete(self) -> None:
            super().on_response_complete()
            idle = self.cycle is None or self.cycle.response_complete
            if idle and not self.transport.is_closing() and self.transport.get_protocol() is self:
                guard.wait(self)  # kept alive: the next head is owed within the timeout too

        def connection_lost(self, exc: Exception | None) -> None:
            guard.forget(self)
            super().connection_lost(exc)

    GuardedHTTPProtocol.__name__ = f"Guarded{base.__name__}"
    return GuardedHTTPProtocol


def guarded_uvicorn_protocol(settings: Any) -> type[asyncio.Protocol]:
    """uvicorn's own choice of HTTP protocol (httptools when installed), guarded."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return guarded_protocol(AutoHTTPProtocol, EdgeGuard.from_settings(settings))
