"""`WS /review/live/{call_sid}/listen`: a live call's audio for a manager's browser.

Only the worker holding the call has its audio (voice/supervision/listen.py), so the page
connects with `?worker=<WORKER_NAME>` and the reverse proxy routes on it (README); a worker
that does not hold the call closes with 4404 and says which worker does.

The socket is a manager's: the upgrade must carry a live session cookie and come from our own
origin (a page elsewhere cannot open it with the manager's cookie: 403), and the first message
must be the session's CSRF token, within TOKEN_WAIT_S (else 1008). Then a JSON text frame
describes the audio and binary frames follow: 16-bit little-endian PCM, 8 kHz, two channels
(caller left, agent right), as the recording has them. Listening is stored as the manager's
action on the call. The stream ends (1000) when the call ends; the session is checked again
every SESSION_CHECK_S.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from review.auth import Viewer, load_session, same_token
from review.context import ReviewContext
from review.files import CALL_SID
from review.guards import SESSION_COOKIE
from voice.logs import get_logger
from voice.store.live import live_call
from voice.store.supervision import log_action
from voice.supervision.listen import CHANNELS, RATE, ListenHub

log = get_logger(__name__)

TOKEN_WAIT_S = 5.0
SESSION_CHECK_S = 30.0
POLICY = 1008
NOT_HERE = 4404  # this worker does not hold the call (or it is not live)


def _same_origin(websocket: WebSocket, public_base: str) -> bool:
    """Browsers always send Origin on a websocket upgrade: it must be us (the public URL, or the
    host this request came to). A client with no Origin is no browser a page could drive."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    ours = {
        f"{urlsplit(public_base).scheme}://{urlsplit(public_base).netloc}",
        f"{scheme}://{websocket.headers.get('host', '')}",
    }
    return origin.rstrip("/") in ours


def add_listen_route(router: APIRouter, ctx: ReviewContext) -> None:
    def viewer_of(websocket: WebSocket) -> Viewer | None:
        return load_session(
            ctx.engine(websocket),
            websocket.cookies.get(SESSION_COOKIE),
            hours=ctx.config.session_hours,
            idle_minutes=ctx.config.idle_minutes,
        )

    @router.websocket("/live/{call_sid}/listen")
    async def listen(websocket: WebSocket, call_sid: str) -> None:
        if not _same_origin(websocket, ctx.settings.public_base):
            log.warning(
                "refused a cross-site listen socket", origin=websocket.headers.get("origin")
            )
            await websocket.close(code=POLICY)  # before accept: the upgrade gets 403
            return
        viewer = await asyncio.to_thread(viewer_of, websocket)
        if viewer is None:
            await websocket.close(code=POLICY)
            return
        await websocket.accept()
        if not await _token_given(websocket, viewer):
            await websocket.close(code=POLICY, reason="send the page's CSRF token first")
            return
        await _stream(websocket, call_sid, viewer, ctx, viewer_of)


async def _token_given(websocket: WebSocket, viewer: Viewer) -> bool:
    try:
        async with asyncio.timeout(TOKEN_WAIT_S):
            message = await websocket.receive_text()
        token = json.loads(message).get("csrf") if message.startswith("{") else None
    except (TimeoutError, ValueError, AttributeError, KeyError, WebSocketDisconnect):
        return False
    return same_token(viewer.csrf_token, token if isinstance(token, str) else None)


async def _stream(websocket: WebSocket, call_sid: str, viewer: Viewer, ctx, viewer_of) -> None:
    hub: ListenHub | None = getattr(websocket.app.state, "listen_hub", None)
    listener = hub.listen(call_sid) if hub is not None and CALL_SID.fullmatch(call_sid) else None
    if listener is None:
        await websocket.close(code=NOT_HERE, reason=await _where(websocket, call_sid, ctx))
        return
    engine = ctx.engine(websocket)
    try:
        await asyncio.to_thread(log_action, engine, call_sid, viewer.name, "listen")
        await websocket.send_text(
            json.dumps({"format": "s16le", "rate": RATE, "channels": CHANNELS, "call": call_sid})
        )
        gone = asyncio.create_task(_until_closed(websocket))
        checked = time.monotonic()
        async for block in listener.blocks():
            if gone.done():
                return
            await websocket.send_bytes(block)
            if time.monotonic() - checked > SESSION_CHECK_S:
                checked = time.monotonic()
                if await asyncio.to_thread(viewer_of, websocket) is None:
                    await websocket.close(code=POLICY, reason="logged out")
                    return
        await websocket.close(code=1000, reason="the call ended")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        if hub is not None:
            hub.leave(listener)


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends, to notice when it goes."""
    try:
        while True:
            await websocket.receive()
    except (WebSocketDisconnect, RuntimeError):
        return


async def _where(websocket: WebSocket, call_sid: str, ctx: ReviewContext) -> str:
    engine = ctx.engine(websocket)
    view = (
        await asyncio.to_thread(live_call, engine, call_sid)
        if CALL_SID.fullmatch(call_sid)
        else None
    )
    if view is None or not view.live:
        return "this call is not live"
    return f"held by worker {view.worker_name or view.worker}"[:120]
