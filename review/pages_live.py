"""`/review/live`: calls in progress on every worker, and one live call with its controls.

Pages are rendered with what the database holds now and kept current by server-sent events
(review/live_feed.py). A manager's command (say a sentence, block the pending action, take
over, end politely) is queued for the worker holding the call (voice/store/supervision.py);
that worker carries it out and records how it went, which the page then shows. Commands are
form posts with the session's CSRF token; a call that is not live takes none.
"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from review.auth import Viewer
from review.callbacks_view import manager_phone
from review.context import ReviewContext
from review.files import CALL_SID
from review.guards import Guards
from review.listen_socket import add_listen_route
from review.live_feed import call_stream, list_payload, list_stream
from voice.store.live import live_call, live_calls
from voice.store.signals import signals_for
from voice.store.supervision import ActionRefused, CommandInvalid, actions_for, queue_command

STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy buffering
KINDS = {"say": "say", "block": "block", "take-over": "take_over", "end": "end"}


def _still_allowed(guards: Guards, request: Request):
    async def check() -> bool:
        return await asyncio.to_thread(guards.viewer, request) is not None

    return check


def _sse(body) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


def _add_list_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/live", response_class=HTMLResponse)
    def live_list(request: Request, viewer: Annotated[Viewer, Depends(guards.page)]) -> Response:
        payload = list_payload(live_calls(ctx.engine(request)))
        return ctx.render(request, "live.html", viewer, nav="live", payload=payload)

    @router.get("/live/events")
    def live_list_events(
        request: Request, _viewer: Annotated[Viewer, Depends(guards.data)]
    ) -> StreamingResponse:
        engine = ctx.engine(request)
        return _sse(list_stream(engine, signals_for(engine), _still_allowed(guards, request)))


def _add_call_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/live/{call_sid}", response_class=HTMLResponse)
    def live_call_page(
        request: Request, call_sid: str, viewer: Annotated[Viewer, Depends(guards.page)]
    ) -> Response:
        engine = ctx.engine(request)
        view = live_call(engine, call_sid) if CALL_SID.fullmatch(call_sid) else None
        if view is None:
            return ctx.render(request, "missing.html", viewer, status_code=404, nav="live")
        return ctx.render(
            request,
            "live_call.html",
            viewer,
            nav="live",
            call=view,
            actions=actions_for(engine, call_sid),
        )

    @router.get("/live/{call_sid}/events")
    def live_call_events(
        request: Request, call_sid: str, _viewer: Annotated[Viewer, Depends(guards.data)]
    ) -> Response:
        engine = ctx.engine(request)
        if not CALL_SID.fullmatch(call_sid) or live_call(engine, call_sid) is None:
            return JSONResponse({"detail": "no such live call"}, status_code=404)
        allowed = _still_allowed(guards, request)
        return _sse(call_stream(engine, signals_for(engine), allowed, call_sid))

    @router.post("/live/{call_sid}/{command}")
    def command(
        request: Request,
        call_sid: str,
        command: str,
        viewer: Annotated[Viewer, Depends(guards.form)],
        text: Annotated[str, Form()] = "",  # the body limit (64 KB) bounds it; see check_command
    ) -> JSONResponse:
        kind = KINDS.get(command)
        if kind is None or not CALL_SID.fullmatch(call_sid):
            return JSONResponse({"error": "no such command"}, status_code=404)
        engine = ctx.engine(request)
        if kind == "take_over":  # to the manager's own phone, else HUMAN_AGENT_NUMBER
            text = manager_phone(engine, viewer.manager_id)
        try:
            action_id = queue_command(engine, call_sid, viewer.name, kind, text)
        except ActionRefused as exc:  # a bad command: 400; a call that is not live: 409
            status = 400 if isinstance(exc, CommandInvalid) else 409
            return JSONResponse({"error": str(exc)}, status_code=status)
        return JSONResponse({"id": action_id, "state": "queued"}, status_code=202)


def add_live_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    _add_list_routes(router, ctx, guards)
    _add_call_routes(router, ctx, guards)
    add_listen_route(router, ctx)
