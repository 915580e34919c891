"""What the live pages stream (server-sent events), read from the database.

The worker holding a call writes its `live_calls` row, its turns and the supervisor actions
(voice/store/); any worker serving a page reads them here. A stream sends an event only when
something changed (the rows' versions, new turns, new actions): it reads the tables every
POLL_S on SQLite, and on PostgreSQL when a NOTIFY says a row changed (voice/store/signals.py),
with a slow poll behind it. A comment line every KEEPALIVE_S keeps proxies from closing an
idle stream, and the manager's session is checked again every SESSION_CHECK_S: a stream ends
with an `expired` event when the login has ended.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from review.context import PREFIX
from voice.store.live import LiveView, call_token, list_token, live_call, live_calls
from voice.store.schema import Turn
from voice.store.signals import LIVE_CHANNEL, Signals
from voice.store.supervision import actions_for

POLL_S = 0.25  # SQLite: how often a stream reads the tables (updates land within ~1 s)
KEEPALIVE_S = 15.0
SESSION_CHECK_S = 30.0
ENDED_LISTED = 10  # recently ended calls the list keeps showing, as links to their review

StillAllowed = Callable[[], Awaitable[bool]]


def sse(event: str, data: Any) -> str:
    """One server-sent event; JSON has no raw newlines, so one `data:` line holds it."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _call_json(view: LiveView) -> dict[str, Any]:
    return {
        **view.as_json(),
        "url": f"{PREFIX}/live/{view.call_sid}",
        "reviewUrl": f"{PREFIX}/calls/{view.call_sid}",
    }


def list_payload(views: list[LiveView]) -> dict[str, Any]:
    live = [_call_json(v) for v in views if v.live]
    ended = [_call_json(v) for v in views if not v.live]
    ended.sort(key=lambda c: c["ended"] or "", reverse=True)
    return {"calls": live, "ended": ended[:ENDED_LISTED], "at": time.time()}


@dataclass
class CallCursor:
    """What a call page was already sent."""

    version: int = -1
    turn: int = -1
    actions: dict[int, str] = field(default_factory=dict)  # id -> state sent
    sentiment: list[tuple] = field(default_factory=list)
    token: tuple | None = None  # call_token when last read in full


def turns_after(engine: Engine, call_sid: str, after: int) -> list[dict[str, Any]]:
    """The call's turns past index `after` (masked when stored), with barge-ins marked: an
    agent turn the caller talked over is `interrupted`."""
    with Session(engine) as db:
        rows = db.scalars(
            select(Turn).where(Turn.call_sid == call_sid, Turn.index > after).order_by(Turn.index)
        )
        return [
            {
                "i": t.index,
                "role": t.role,
                "text": t.text,
                "start": t.start_s,
                "end": t.end_s,
                "latency": t.latency_ms,
                "interrupted": bool(t.interrupted),
                "supervisor": t.supervisor,  # the manager whose words the agent said
            }
            for t in rows
        ]


def sentiment_series(engine: Engine, call_sid: str) -> list[tuple]:
    """(turn index, score, escalation probability) of each scored caller turn."""
    with Session(engine) as db:
        return [
            tuple(row)
            for row in db.execute(
                select(Turn.index, Turn.sentiment_score, Turn.escalation_probability)
                .where(
                    Turn.call_sid == call_sid,
                    Turn.role == "caller",
                    Turn.sentiment_score.is_not(None),
                )
                .order_by(Turn.index)
            )
        ]


def call_changes(engine: Engine, call_sid: str, cursor: CallCursor) -> list[str]:
    """The events a call page needs now (blocking: run off the event loop). One small query
    says whether anything changed; only then are the turns, scores and actions read."""
    token = call_token(engine, call_sid)
    if token is not None and token == cursor.token:
        return []
    cursor.token = token
    view = live_call(engine, call_sid)
    if view is None:
        return [sse("gone", {"reviewUrl": f"{PREFIX}/calls/{call_sid}"})]
    events = []
    turns = turns_after(engine, call_sid, cursor.turn)
    if turns:
        cursor.turn = turns[-1]["i"]
        events.append(sse("turns", turns))
    series = sentiment_series(engine, call_sid)
    if series != cursor.sentiment:
        cursor.sentiment = series
        events.append(sse("sentiment", [{"i": i, "score": s, "p": p} for i, s, p in series]))
    changed = [a for a in actions_for(engine, call_sid) if cursor.actions.get(a.id) != a.state]
    if changed:
        cursor.actions.update((a.id, a.state) for a in changed)
        events.append(sse("actions", [a.as_json() for a in changed]))
    if view.version != cursor.version:
        cursor.version = view.version
        events.append(sse("state", _call_json(view)))
    if not view.live:
        events.append(
            sse("ended", {"reviewUrl": f"{PREFIX}/calls/{call_sid}", "reason": view.end_reason})
        )
    return events


async def stream(
    produce: Callable[[], list[str]],
    signals: Signals,
    still_allowed: StillAllowed,
    *,
    final: Callable[[list[str]], bool] = lambda _events: False,
) -> AsyncIterator[str]:
    """Run `produce` (blocking, in a thread) whenever the tables may have changed; yield what it
    returns; stop after events `final` accepts, or when the session has ended."""
    yield "retry: 2000\n\n"  # the browser reconnects after 2 s if the stream drops
    sent = checked = time.monotonic()
    while True:
        events = await asyncio.to_thread(produce)
        now = time.monotonic()
        for event in events:
            yield event
        if events:
            sent = now
        if final(events):
            return
        if now - sent >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            sent = now
        if now - checked >= SESSION_CHECK_S:
            checked = now
            if not await still_allowed():
                yield sse("expired", {"login": f"{PREFIX}/login"})
                return
        await signals.wait(LIVE_CHANNEL, signals.poll_s(POLL_S))


def list_stream(
    engine: Engine, signals: Signals, still_allowed: StillAllowed
) -> AsyncIterator[str]:
    last: list[tuple | None] = [None]

    def produce() -> list[str]:
        token = list_token(engine)  # one small query; the rows only when it moved
        if token == last[0]:
            return []
        last[0] = token
        return [sse("calls", list_payload(live_calls(engine)))]

    return stream(produce, signals, still_allowed)


def call_stream(
    engine: Engine, signals: Signals, still_allowed: StillAllowed, call_sid: str
) -> AsyncIterator[str]:
    cursor = CallCursor()

    def final(events: list[str]) -> bool:
        return any(e.startswith(("event: ended", "event: gone")) for e in events)

    return stream(
        lambda: call_changes(engine, call_sid, cursor), signals, still_allowed, final=final
    )
