"""How a call-back went, as Twilio tells us (signed, like every webhook).

"Call back now" (review/pages_callbacks.py) has Twilio ring the manager's phone
(`CallControl.place_callback`), whose TwiML then dials the caller. Two signed callbacks come
back, each naming the attempt in its query string:

- `POST /twilio/callback-status?attempt=N`: the manager's leg (`CallStatus`). A phone that is
  busy, not answered or failing ends the attempt there; ringing and answered are progress.
- `POST /twilio/callback-dial?attempt=N`: the `<Dial>` to the caller ended
  (`DialCallStatus`): connected, no answer, busy or failed. This is the attempt's outcome.

A request that is not signed gets 403; an attempt id that is not a number, 400; an unknown
attempt is answered (Twilio must not retry) and logged, and changes nothing.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from twilio.twiml.voice_response import VoiceResponse

from telephony.signatures import signed_form
from voice import metrics
from voice.logs import get_logger
from voice.settings import Settings
from voice.store.callbacks import attempt_outcome, attempt_progress, get_attempt, get_request
from voice.store.supervision import log_action

log = get_logger(__name__)

CALLBACK_STATUS_PATH = "/twilio/callback-status"
CALLBACK_DIAL_PATH = "/twilio/callback-dial"
XML = "application/xml"

# The `<Dial>`'s DialCallStatus -> the attempt's outcome. "canceled": the manager hung up
# before the caller answered, so for the caller it is a call they never picked up.
DIAL_OUTCOMES = {
    "completed": "connected",
    "answered": "connected",
    "no-answer": "no-answer",
    "canceled": "no-answer",
    "busy": "busy",
    "failed": "failed",
}
# The manager's own leg, when it ends before the caller was dialled.
MANAGER_OUTCOMES = {
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "failed",
}
MANAGER_PROGRESS = {
    "initiated": "placing the call to your phone",
    "ringing": "ringing your phone",
    "in-progress": "you answered; ringing the caller",
    "answered": "you answered; ringing the caller",
}


def _attempt_id(request: Request) -> int | None:
    raw = request.query_params.get("attempt", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def callback_router(settings: Settings) -> APIRouter:
    router = APIRouter()

    @router.post(CALLBACK_STATUS_PATH)
    async def manager_leg(request: Request) -> Response:
        form = await signed_form(settings, request)
        if form is None:
            return Response("invalid Twilio signature", status_code=403)
        attempt = _attempt_id(request)
        if attempt is None:
            return Response("attempt must be a number", status_code=400)
        status = form.get("CallStatus", "")
        engine = request.app.state.store.engine
        if status in MANAGER_OUTCOMES:
            await asyncio.to_thread(
                _outcome, engine, attempt, MANAGER_OUTCOMES[status], f"your phone: {status}"
            )
        elif status in MANAGER_PROGRESS:
            await asyncio.to_thread(attempt_progress, engine, attempt, MANAGER_PROGRESS[status])
        log.info("call-back status", attempt=attempt, call_status=status)
        return Response(status_code=204)

    @router.post(CALLBACK_DIAL_PATH)
    async def caller_leg(request: Request) -> Response:
        form = await signed_form(settings, request)
        if form is None:
            return Response("invalid Twilio signature", status_code=403)
        attempt = _attempt_id(request)
        if attempt is None:
            return Response("attempt must be a number", status_code=400)
        status = form.get("DialCallStatus", "")
        outcome = DIAL_OUTCOMES.get(status, "failed")
        detail = "talked to the caller" if outcome == "connected" else f"the caller: {status}"
        engine = request.app.state.store.engine
        await asyncio.to_thread(_outcome, engine, attempt, outcome, detail)
        log.info("call-back dial ended", attempt=attempt, dial_status=status, outcome=outcome)
        return Response(_after_dial(outcome), media_type=XML)

    return router


def _outcome(engine: Engine, attempt_id: int, outcome: str, detail: str) -> None:
    """Store the first outcome, count it, and note it on the call the request came from."""
    if not attempt_outcome(engine, attempt_id, outcome, detail):
        return  # unknown attempt, or Twilio telling us twice
    metrics.CALLBACK_OUTCOMES.labels(outcome=outcome).inc()
    attempt = get_attempt(engine, attempt_id)
    request = get_request(engine, attempt.request_id) if attempt else None
    if attempt is not None and request is not None and request.call_sid:
        log_action(
            engine,
            request.call_sid,
            attempt.manager,
            "callback_result",
            result=f"{outcome}: {detail}",
        )


def _after_dial(outcome: str) -> str:
    """What the manager hears once the dial is over."""
    response = VoiceResponse()
    if outcome != "connected":
        spoken = outcome.replace("-", " ")
        response.say(f"The caller could not be reached: {spoken}. The request stays on your list.")
    response.hangup()
    return str(response)
