"""One call: its page, its audio (with HTTP Range for seeking), waveform, exports, tags, notes."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy.engine import Engine

from review import annotations, call_view
from review import events as call_events
from review.audio import waveform
from review.auth import Viewer
from review.context import PREFIX, ReviewContext
from review.exports import transcript_json, transcript_text
from review.files import CALL_SID, call_file
from review.guards import Guards
from review.queries import CallDetail, get_call
from voice.store.supervision import actions_for


def _call_or_404(engine: Engine, call_sid: str) -> CallDetail:
    call = get_call(engine, call_sid) if CALL_SID.match(call_sid) else None
    if call is None:
        raise HTTPException(404, "no such call")
    return call


def _file(ctx: ReviewContext, call: CallDetail, suffix: str) -> Path | None:
    stored = call.recording_path if suffix == ".wav" else call.events_path
    return call_file(ctx.settings.recordings_dir, call.call_sid, stored, call.started_at, suffix)


def _urls(call_sid: str) -> dict[str, str]:
    base = f"{PREFIX}/calls/{call_sid}"
    return {"audio": f"{base}/audio", "waveform": f"{base}/waveform.json"}


def _page_context(ctx: ReviewContext, engine: Engine, call: CallDetail) -> dict:
    events = call_events.read_events(_file(ctx, call, ".jsonl"))
    barge_ins = call_events.barge_ins(events)
    escalation = call_view.find_escalation(call, events)
    has_audio = _file(ctx, call, ".wav") is not None
    return {
        "call": call,
        "has_audio": has_audio,
        "escalation": escalation,
        "timeline": call_view.timeline(call, barge_ins, escalation),
        "actions": call_events.actions(events),
        "supervision": actions_for(engine, call.call_sid),  # what managers did, live or after
        "tags": annotations.tags_for(engine, call.call_sid),
        "notes": annotations.notes_for(engine, call.call_sid),
        "player": call_view.player_data(
            call, barge_ins, escalation, _urls(call.call_sid) if has_audio else {}
        ),
        "note_error": "",  # a refused note: why, and its text back in the form
        "note_text": "",
    }


def _add_page_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/calls/{call_sid}", response_class=HTMLResponse)
    def call_page(
        request: Request, call_sid: str, viewer: Annotated[Viewer, Depends(guards.page)]
    ) -> HTMLResponse:
        engine = ctx.engine(request)
        call = get_call(engine, call_sid) if CALL_SID.match(call_sid) else None
        if call is None:
            return ctx.render(request, "missing.html", viewer, status_code=404, nav="calls")
        return ctx.render(
            request, "call.html", viewer, nav="calls", **_page_context(ctx, engine, call)
        )


def _add_file_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/calls/{call_sid}/audio")
    def audio(
        request: Request,
        call_sid: str,
        _viewer: Annotated[Viewer, Depends(guards.data)],
        download: bool = False,
    ) -> FileResponse:
        path = _file(ctx, _call_or_404(ctx.engine(request), call_sid), ".wav")
        if path is None:
            raise HTTPException(404, "no recording")
        # FileResponse answers Range requests (206), which is what makes seeking work.
        return FileResponse(
            path,
            media_type="audio/wav",
            filename=f"{call_sid}.wav",
            content_disposition_type="attachment" if download else "inline",
        )

    @router.get("/calls/{call_sid}/waveform.json")
    def waveform_json(
        request: Request, call_sid: str, _viewer: Annotated[Viewer, Depends(guards.data)]
    ) -> JSONResponse:
        path = _file(ctx, _call_or_404(ctx.engine(request), call_sid), ".wav")
        if path is None:
            raise HTTPException(404, "no recording")
        return JSONResponse(waveform(path))

    @router.get("/calls/{call_sid}/transcript.json")
    def transcript_as_json(
        request: Request, call_sid: str, _viewer: Annotated[Viewer, Depends(guards.data)]
    ) -> JSONResponse:
        engine = ctx.engine(request)
        call = _call_or_404(engine, call_sid)
        body = transcript_json(
            call,
            call_events.read_events(_file(ctx, call, ".jsonl")),
            annotations.tags_for(engine, call_sid),
        )
        return JSONResponse(
            body, headers={"Content-Disposition": f'attachment; filename="{call_sid}.json"'}
        )

    @router.get("/calls/{call_sid}/transcript.txt")
    def transcript_as_text(
        request: Request, call_sid: str, _viewer: Annotated[Viewer, Depends(guards.data)]
    ) -> PlainTextResponse:
        call = _call_or_404(ctx.engine(request), call_sid)
        return PlainTextResponse(
            transcript_text(call, ctx.config.zone),
            headers={"Content-Disposition": f'attachment; filename="{call_sid}.txt"'},
        )


def _back(call_sid: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/calls/{call_sid}#{anchor}", status_code=303)


def _add_form_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.post("/calls/{call_sid}/tags")
    def add_tag(
        request: Request,
        call_sid: str,
        viewer: Annotated[Viewer, Depends(guards.form)],
        tag: Annotated[str, Form(max_length=64)] = "",
    ) -> RedirectResponse:
        engine = ctx.engine(request)
        annotations.add_tag(engine, _call_or_404(engine, call_sid).call_sid, tag, viewer.manager_id)
        return _back(call_sid, "tags")

    @router.post("/calls/{call_sid}/tags/remove")
    def remove_tag(
        request: Request,
        call_sid: str,
        _viewer: Annotated[Viewer, Depends(guards.form)],
        tag: Annotated[str, Form(max_length=64)] = "",
    ) -> RedirectResponse:
        engine = ctx.engine(request)
        annotations.remove_tag(engine, _call_or_404(engine, call_sid).call_sid, tag)
        return _back(call_sid, "tags")

    @router.post("/calls/{call_sid}/notes")
    def add_note(
        request: Request,
        call_sid: str,
        viewer: Annotated[Viewer, Depends(guards.form)],
        text: Annotated[str, Form()] = "",  # the body limit (64 KB) bounds it
    ) -> Response:
        engine = ctx.engine(request)
        call = _call_or_404(engine, call_sid)
        try:
            annotations.add_note(engine, call.call_sid, text, viewer.manager_id)
        except annotations.NoteTooLong as exc:  # said, with the text kept: never cut silently
            context = _page_context(ctx, engine, call)
            context.update(note_error=str(exc), note_text=text)
            return ctx.render(request, "call.html", viewer, status_code=400, nav="calls", **context)
        return _back(call_sid, "notes")


def add_call_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    _add_page_routes(router, ctx, guards)
    _add_file_routes(router, ctx, guards)
    _add_form_routes(router, ctx, guards)
