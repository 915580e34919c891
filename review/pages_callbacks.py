"""`/review/callbacks`: the callers promised a call back, and calling them.

"Call back now" has Twilio ring the manager's own phone (their number from `callcentre
add-manager --phone`, else HUMAN_AGENT_NUMBER) from TWILIO_CALLER_ID; when they answer they
hear who and why, and the caller is dialled (telephony/call_control.py). Twilio's answer is
checked; a refusal is shown on the page and stored on the attempt, never swallowed. The outcome
arrives later through a signed status callback (telephony/callback_routes.py). A request is
marked done with a note. Each of these is also stored as a supervisor action on the call.
"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from review.annotations import MAX_NOTE, NoteTooLong, clean_note
from review.auth import Viewer
from review.callbacks_view import callback_list, manager_phone
from review.context import PREFIX, ReviewContext
from review.guards import Guards
from voice.privacy import mask_phone
from voice.store.callbacks import (
    CallbackRefused,
    attempt_failed,
    attempt_placed,
    get_request,
    mark_done,
    start_attempt,
)
from voice.store.supervision import log_action

MAX_ID = 2**31 - 1


def _briefing(name: str, reason: str) -> str:
    """What the manager hears when they pick up, before the caller is dialled."""
    who = name.strip() or "a caller"
    why = reason.strip().rstrip(".") or "no reason was recorded"
    return f"Call back for {who}. {why}. Connecting you to the caller now."


def _page(
    ctx: ReviewContext,
    request: Request,
    viewer: Viewer,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    engine = ctx.engine(request)
    context.setdefault("error", "")
    context.setdefault("error_for", None)
    context.setdefault("note_text", "")
    return ctx.render(
        request,
        "callbacks.html",
        viewer,
        status_code=status_code,
        nav="callbacks",
        requests=callback_list(engine),
        can_call=getattr(request.app.state, "call_control", None) is not None,
        **context,
    )


def add_callback_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/callbacks", response_class=HTMLResponse)
    def callbacks(request: Request, viewer: Annotated[Viewer, Depends(guards.page)]) -> Response:
        return _page(ctx, request, viewer)

    @router.post("/callbacks/{request_id}/call")
    async def call_back(
        request: Request, request_id: int, viewer: Annotated[Viewer, Depends(guards.form)]
    ) -> Response:
        engine = ctx.engine(request)
        wanted = (
            await asyncio.to_thread(get_request, engine, request_id)
            if request_id <= MAX_ID
            else None
        )
        if wanted is None:
            return _page(ctx, request, viewer, 404, error="No such call-back request.")
        control = getattr(request.app.state, "call_control", None)
        ring = await asyncio.to_thread(manager_phone, engine, viewer.manager_id)
        ring = ring or ctx.settings.human_agent_number
        if control is None or not ring:
            why = (
                "Calling back needs the voice service (this review app runs alone)."
                if control is None
                else "No phone to ring first: add yours with `callcentre add-manager "
                f"{viewer.name} --reset --phone +1…`, or set HUMAN_AGENT_NUMBER."
            )
            return _page(ctx, request, viewer, 409, error=why, error_for=request_id)
        try:
            attempt = await asyncio.to_thread(start_attempt, engine, request_id, viewer.name)
        except CallbackRefused as exc:
            return _page(ctx, request, viewer, 409, error=f"{exc}.", error_for=request_id)
        placed = await control.place_callback(
            attempt,
            ring_first=ring,
            caller_number=wanted.phone,
            briefing=_briefing(wanted.name, wanted.reason),
        )
        if placed.ok:
            await asyncio.to_thread(attempt_placed, engine, attempt, placed.sid)
            result = f"placed: ringing {mask_phone(ring)} first"
        else:
            await asyncio.to_thread(attempt_failed, engine, attempt, placed.error)
            result = f"failed: {placed.error}"
        await asyncio.to_thread(
            log_action, engine, wanted.call_sid, viewer.name, "call_back", "", result
        )
        if not placed.ok:
            message = f"Twilio did not place the call: {placed.error}"
            return _page(ctx, request, viewer, 502, error=message, error_for=request_id)
        return RedirectResponse(f"{PREFIX}/callbacks#request-{request_id}", status_code=303)

    @router.post("/callbacks/{request_id}/done")
    def done(
        request: Request,
        request_id: int,
        viewer: Annotated[Viewer, Depends(guards.form)],
        note: Annotated[str, Form()] = "",  # the body limit (64 KB) bounds it
    ) -> Response:
        engine = ctx.engine(request)
        text = clean_note(note)
        if len(text) > MAX_NOTE:  # said, with the text kept: never cut silently
            error = str(NoteTooLong(len(text)))
            return _page(
                ctx, request, viewer, 400, error=error, error_for=request_id, note_text=note
            )
        try:
            marked = mark_done(engine, min(request_id, MAX_ID), viewer.name, text)
        except CallbackRefused as exc:
            status = 404 if "no such" in str(exc) else 409
            return _page(ctx, request, viewer, status, error=f"{exc}.", error_for=request_id)
        log_action(engine, marked.call_sid, viewer.name, "callback_done", text)
        return RedirectResponse(f"{PREFIX}/callbacks#request-{request_id}", status_code=303)
