"""The `/twilio/media` websocket: the checks a Twilio Media Stream passes before it becomes a
call (signed upgrade, capacity, a valid `start`, the single-use stream token bound to its
CallSid, one stream per call), then the socket is handed to `voice.call`, which runs the call."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence

from fastapi import WebSocket, WebSocketDisconnect

from telephony.call_control import CallControl
from telephony.signatures import SIGNATURE_HEADER, is_signed
from telephony.stream_tokens import StreamTokenRefused, StreamTokens
from voice.call.phone import CallWatcher, run_phone_call
from voice.engines.loaded import VoiceEngines
from voice.engines.resources import BusinessResources
from voice.log_budget import LimitedWarnings
from voice.logs import get_logger
from voice.settings import Settings
from voice.store.calls import Store

log = get_logger(__name__)

START_TIMEOUT_S = 10.0
CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
POLICY_VIOLATION = 1008  # websocket close code for refused/invalid streams
TRY_AGAIN_LATER = 1013  # websocket close code when the server is full


class StreamRefused(Exception):
    pass


async def read_start(websocket: WebSocket) -> dict:
    """Read until Twilio's `start` message; anything else before it is logged (a few lines,
    then one summary line: voice/log_budget.py) and skipped."""
    warnings = LimitedWarnings(log, "bad message before start")
    try:
        return await _read_start(websocket, warnings)
    finally:
        warnings.summary()


async def _read_start(websocket: WebSocket, warnings: LimitedWarnings) -> dict:
    async with asyncio.timeout(START_TIMEOUT_S):
        while True:
            message = _parse(await _receive_text(websocket), warnings)
            if message is None:
                continue
            if message.get("event") == "start":
                start = message.get("start")
                if (
                    isinstance(start, dict)
                    and _is_id(start.get("callSid"))
                    and _is_id(message.get("streamSid") or start.get("streamSid"))
                ):
                    return message
                raise StreamRefused("start without a valid callSid/streamSid")
            if message.get("event") != "connected":
                warnings.warn(f"{message.get('event')!r}")


async def _receive_text(websocket: WebSocket) -> str | None:
    """The next text frame; None for a binary one (Twilio sends none), which
    `receive_text` would answer with a KeyError."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message.get("text")


def _parse(raw: str | None, warnings: LimitedWarnings) -> dict | None:
    if raw is None:
        warnings.warn("binary frame")
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        warnings.warn("invalid JSON")
        return None
    if not isinstance(message, dict):
        warnings.warn("not an object")
        return None
    return message


def _is_id(value: object) -> bool:
    """Twilio's ids are 34 letters and digits; ours name the call's files, so nothing else
    (no path, no NUL, nothing too long for a file name or the database) gets through."""
    return isinstance(value, str) and CALL_ID.fullmatch(value) is not None


async def handle_media_stream(
    websocket: WebSocket,
    settings: Settings,
    engines: VoiceEngines,
    resources: BusinessResources,
    store: Store,
    call_control: CallControl,
    active_calls: set[str],
    *,
    tokens: StreamTokens,
    pending: set[object] | None = None,
    watchers: Sequence[CallWatcher] = (),
) -> None:
    """Check the stream (signature, capacity, `start`, stream token, one stream per CallSid)
    and hand the socket over to `voice.call`; the capacity place is held until the call ends."""
    signature = websocket.headers.get(SIGNATURE_HEADER)
    if not is_signed(settings, settings.stream_url, {}, signature):
        log.warning("refused unsigned media stream", has_signature=bool(signature))
        await websocket.close(code=POLICY_VIOLATION)  # before accept: the upgrade gets 403
        return
    await websocket.accept()
    # Streams that have not sent `start` yet hold a place (for START_TIMEOUT_S at most), so
    # that streams opened together cannot all become calls past MAX_CALLS.
    pending = pending if pending is not None else set()
    if len(active_calls) + len(pending) >= settings.max_calls:
        await _refuse_full(websocket, active_calls, pending)
        return
    place = object()
    pending.add(place)
    try:
        message = await read_start(websocket)
    except (TimeoutError, StreamRefused, WebSocketDisconnect) as exc:
        log.warning("media stream closed before start", reason=str(exc) or type(exc).__name__)
        if not isinstance(exc, WebSocketDisconnect):
            await websocket.close(code=POLICY_VIOLATION, reason="expected a valid start message")
        return
    finally:
        pending.discard(place)
    start = message["start"]
    call_sid = str(start["callSid"])
    params = start.get("customParameters")
    token = params.get("token") if isinstance(params, dict) else None
    try:  # only a token from our own signed webhook, for this very CallSid, opens a call
        nonce = tokens.check(call_sid, token)
    except StreamTokenRefused as exc:
        log.warning("refused a media stream: stream token " + str(exc), call_sid=call_sid)
        await websocket.close(code=POLICY_VIOLATION, reason=f"stream token {exc}")
        return
    claim = await claim_call(call_sid, store, active_calls, settings.max_calls)
    if claim == FULL:
        await _refuse_full(websocket, active_calls, pending)
        return
    if claim != CLAIMED:
        log.warning("refused a second stream for a call", call_sid=call_sid)
        await websocket.close(code=POLICY_VIOLATION, reason="this call already has a stream")
        return
    try:
        try:
            caller = await asyncio.to_thread(tokens.use, call_sid, nonce)
        except StreamTokenRefused as exc:
            log.warning("refused a media stream: stream token " + str(exc), call_sid=call_sid)
            await websocket.close(code=POLICY_VIOLATION, reason=f"stream token {exc}")
            return
        await run_phone_call(  # the call is voice's from here (voice/call/phone.py)
            websocket,
            call_sid,
            str(message.get("streamSid") or start.get("streamSid")),
            caller=caller,
            settings=settings,
            engines=engines,
            resources=resources,
            store=store,
            transfer=call_control.transfer,
            watchers=watchers,
        )
    finally:
        active_calls.discard(call_sid)  # also when the call failed before its own cleanup


async def _refuse_full(websocket: WebSocket, active_calls: set[str], pending: set) -> None:
    log.warning(
        "refused a media stream: server full",
        active_calls=len(active_calls),
        starting_streams=len(pending),
    )
    await websocket.close(code=TRY_AGAIN_LATER, reason="server full")


CLAIMED, TAKEN, FULL = "claimed", "taken", "full"


async def claim_call(
    call_sid: str, store: Store, active_calls: set[str], max_calls: int | None = None
) -> str:
    """Each CallSid is streamed once, and no more than `max_calls` at a time. Twilio's
    signatures carry no timestamp (the upgrade's covers only the URL), so a captured stream can
    be replayed: a `start` for a call that is live here, or that any worker has already
    recorded, is refused (TAKEN) rather than allowed to overwrite that call's recording and row.
    Capacity is checked here, when the call is claimed, not only when the socket opened."""
    if call_sid in active_calls:
        return TAKEN
    if max_calls is not None and len(active_calls) >= max_calls:
        return FULL
    active_calls.add(call_sid)  # claimed before the first await: of two racing starts, one wins
    if await asyncio.to_thread(store.get_call, call_sid) is not None:
        active_calls.discard(call_sid)
        return TAKEN
    return CLAIMED
