"""Does the live console cost the calls anything? p95 voice-to-voice with and without it.

Starts `callcentre serve` (real models) once, then runs rounds of N simultaneous simulated calls
(the sample caller turns, starts spread over a few seconds), alternating: a round without the
console, then a round with it — `--listeners` managers listening to every call (the listen
websocket, read as a browser would) and `--watchers` managers on /review/live plus one on each
call's live page (server-sent events). Alternating rounds in one process keeps the machine's
drift out of the comparison. Prints median and p95 voice-to-voice latency of each condition,
their ratio (the goal: p95 with the console within 10 % of without), and what the listeners
received and lost.

    .venv/bin/python bench/console_load.py --calls 3 --listeners 2 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency import TURN_FILES, percentile  # noqa: E402
from bench.machine import describe  # noqa: E402
from review.auth import save_manager  # noqa: E402
from telephony.local_server import LocalServer  # noqa: E402
from telephony.simulator import simulate_call  # noqa: E402
from voice.store.calls import Store  # noqa: E402

MANAGER, PASSWORD = "bench", "bench password 1234"
GOAL = 1.10  # p95 with the console at most 10 % above without


@dataclass
class Condition:
    name: str
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    blocks: int = 0
    listeners: int = 0
    events: int = 0
    server_cpu_s: float = 0.0  # the server process's CPU time over this condition's rounds
    wall_s: float = 0.0

    def row(self) -> str:
        lat = self.latencies
        median = statistics.median(lat) if lat else float("nan")
        p95 = percentile(lat, 0.95) if lat else float("nan")
        return (
            f"| {self.name} | {len(lat)} | {self.failed} | {median:.0f} | {p95:.0f} | "
            f"{100 * self.server_cpu_s / max(self.wall_s, 1e-9):.0f} | "
            f"{self.listeners} | {self.blocks} | {self.events} |"
        )


class Manager:
    """A logged-in browser, as far as the server can tell."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.client = httpx.Client(base_url=server.http, timeout=30)
        page = self.client.get("/review/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.client.post(
            "/review/login", data={"name": MANAGER, "password": PASSWORD, "csrf_token": token}
        )
        self.csrf = re.search(
            r'name="csrf_token" value="([^"]+)"', self.client.get("/review/live").text
        ).group(1)
        self.cookie = f"review_session={self.client.cookies['review_session']}"

    async def listen(self, call_sid: str, until: asyncio.Event, got: Condition) -> None:
        """Listen to the call from when it is live until it ends (retrying while it starts)."""
        url = f"ws://127.0.0.1:{self.server.port}/review/live/{call_sid}/listen"
        headers = {"Cookie": self.cookie, "Origin": self.server.http}
        while not until.is_set():
            try:
                async with connect(url, additional_headers=headers, max_size=2**22) as ws:
                    await ws.send(json.dumps({"csrf": self.csrf}))
                    await ws.recv()  # the format
                    got.listeners += 1
                    async for message in ws:
                        got.blocks += 1
                        del message
                    return
            except ConnectionClosed as closed:
                if closed.rcvd is None or closed.rcvd.code != 4404:
                    return
            except (InvalidStatus, OSError):
                pass
            await asyncio.sleep(0.1)  # not live yet

    async def watch(self, path: str, until: asyncio.Event, got: Condition) -> None:
        """Read a server-sent event stream until `until` is set."""

        def read() -> None:
            try:
                with self.client.stream("GET", path, timeout=None) as response:
                    for line in response.iter_lines():
                        if line.startswith("event: "):
                            got.events += 1
                        if until.is_set() or line.startswith(("event: ended", "event: gone")):
                            return
            except httpx.HTTPError:
                return

        await asyncio.to_thread(read)


async def one_call(server: LocalServer, call_sid: str, delay: float, got: Condition) -> None:
    await asyncio.sleep(delay)
    try:
        call = await simulate_call(
            [ROOT / "data" / "samples" / f for f in TURN_FILES],
            url=server.media_url,
            settings=server.settings,
            call_sid=call_sid,
            transcribe=False,
        )
    except Exception as exc:
        print(f"call failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        got.failed += 1
        return
    got.latencies += [t.latency_ms for t in call.turns if t.latency_ms is not None]


async def round_of_calls(
    server: LocalServer,
    calls: int,
    spread: float,
    got: Condition,
    managers: list[Manager],
    watchers: int,
) -> None:
    sids = [f"CA{secrets.token_hex(16)}" for _ in range(calls)]
    done = asyncio.Event()
    side = []
    if managers:
        side += [asyncio.create_task(m.listen(sid, done, got)) for sid in sids for m in managers]
        side += [
            asyncio.create_task(managers[i % len(managers)].watch("/review/live/events", done, got))
            for i in range(watchers)
        ]
    delays = sorted(random.uniform(0, spread) for _ in range(calls))
    if managers:  # one manager on each call's live page, once the call is there
        side += [
            asyncio.create_task(_page_later(managers[0], sid, d + 1.0, done, got))
            for sid, d in zip(sids, delays, strict=True)
        ]
    await asyncio.gather(*(one_call(server, s, d, got) for s, d in zip(sids, delays, strict=True)))
    done.set()
    for task in side:
        try:
            await asyncio.wait_for(task, 20)
        except TimeoutError:
            task.cancel()


async def _page_later(manager: Manager, sid: str, delay: float, done, got: Condition) -> None:
    await asyncio.sleep(delay)
    await manager.watch(f"/review/live/{sid}/events", done, got)


def server_cpu(server: LocalServer) -> float:
    assert server.process is not None
    times = psutil.Process(server.process.pid).cpu_times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--listeners", type=int, default=2, help="managers listening to each call")
    parser.add_argument("--watchers", type=int, default=2, help="managers on the live list")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each condition")
    parser.add_argument("--spread", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    random.seed(args.seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = dict(item.split("=", 1) for item in args.env)
    extra.setdefault("MAX_CALLS", str(args.calls))
    extra.setdefault("REVIEW_COOKIE_SECURE", "never")
    off, on = Condition("without the console"), Condition("with the console")
    with tempfile.TemporaryDirectory() as tmp, LocalServer(Path(tmp), extra_env=extra) as server:
        save_manager(Store(server.database_url).engine, MANAGER, PASSWORD)
        managers = [Manager(server) for _ in range(args.listeners)]
        asyncio.run(round_of_calls(server, 1, 0, Condition("warm-up"), [], 0))
        for n in range(args.rounds):
            for got, people in ((off, []), (on, managers)):
                started, cpu = time.monotonic(), server_cpu(server)
                asyncio.run(
                    round_of_calls(server, args.calls, args.spread, got, people, args.watchers)
                )
                got.server_cpu_s += server_cpu(server) - cpu
                got.wall_s += time.monotonic() - started
                print(
                    f"round {n + 1} {got.name}: {time.monotonic() - started:.0f} s "
                    f"(load average {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                )
    print(f"machine: {describe()}")
    print(
        f"{args.calls} calls at once, {args.rounds} rounds each; with the console: "
        f"{args.listeners} managers listening to every call, {args.watchers} on the live list, "
        "one on each call's live page\n"
    )
    print(
        "| condition | turns | failed calls | median ms | p95 ms | server CPU % of a core "
        "| listen sockets | audio blocks | events |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(off.row())
    print(on.row())
    if off.latencies and on.latencies:
        ratio = percentile(on.latencies, 0.95) / percentile(off.latencies, 0.95)
        verdict = "within" if ratio <= GOAL else "NOT within"
        print(f"\np95 with / without the console: {ratio:.3f} ({verdict} {GOAL - 1:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
