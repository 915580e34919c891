"""The web app: Twilio's webhooks, the media websocket, health."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from review.routes import create_review_router
from telephony.call_control import CallControl
from telephony.callback_routes import callback_router
from telephony.handover_routes import WhisperNotes, handover_router
from telephony.limits import BodySizeLimit
from telephony.media_stream import CALL_ID, handle_media_stream
from telephony.signatures import signed_form
from telephony.stream_tokens import StreamTokens
from telephony.twiml import connect_stream, hang_up, say_and_hang_up
from voice import metrics
from voice.engines.loaded import VoiceEngines
from voice.engines.resources import BusinessResources
from voice.heap import freeze_startup_objects
from voice.logs import get_logger
from voice.pipeline.pipecat_compat import check_pipecat
from voice.pipeline.smart_turn import shared_smart_turn
from voice.prompts import load_prompt
from voice.settings import Settings
from voice.store.calls import Store
from voice.store.repair import close_interrupted_calls
from voice.supervision.console import SupervisorConsole
from voice.supervision.listen import ListenHub

log = get_logger(__name__)

XML = "application/xml"


def create_app(settings: Settings, engines: VoiceEngines | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_pipecat()  # the pipecat internals we reach are there (warns on another version)
        settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        app.state.store = Store(settings.database)
        await asyncio.to_thread(close_interrupted_calls, app.state.store)
        # The live console: each call's live row, its listen-in audio, managers' commands.
        app.state.call_watchers.append(
            SupervisorConsole(app.state.store.engine, app.state.listen_hub, settings.worker_name)
        )
        app.state.stream_tokens = StreamTokens(settings, app.state.store)
        app.state.engines = engines or await asyncio.to_thread(VoiceEngines.load, settings)
        if settings.smart_turn:  # loaded and warmed now, not in the first caller's turn
            await asyncio.to_thread(shared_smart_turn)
        app.state.resources = await asyncio.to_thread(
            BusinessResources.open, app.state.store, app.state.engines.embedder, settings
        )
        # Last: what start-up loaded stays out of the collector's scans (a full one stopped
        # every call's audio for 240 ms).
        frozen = freeze_startup_objects()
        log.info(
            "ready",
            public_url=settings.public_base,
            stream_url=settings.stream_url,
            metrics="Bearer METRICS_TOKEN" if settings.metrics_token else "off (no METRICS_TOKEN)",
            objects_frozen=frozen,
        )
        yield

    docs = settings.api_docs  # the API's own pages: for development only, off by default
    app = FastAPI(
        title="callcentre",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    # Every request body (webhooks, review's forms): 64 KB at most, refused before parsing,
    # and received in full within HTTP_READ_TIMEOUT_S.
    app.add_middleware(BodySizeLimit, read_timeout_s=settings.http_read_timeout_s)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.state.settings = settings
    app.state.active_calls = set()
    app.state.pending_streams = set()  # accepted, no `start` yet: they hold a place too
    app.state.listen_hub = ListenHub()  # live calls' audio for managers listening in
    app.state.call_watchers = []  # told of each call as it opens and closes (voice/call/phone.py)
    notes = WhisperNotes()  # what the human hears before being connected
    app.state.call_control = CallControl(
        settings,
        notes,
        timeout_s=settings.transfer_timeout_s,
        connecting_line="Connecting you now.",
    )
    app.include_router(handover_router(settings, notes))
    app.include_router(callback_router(settings))  # how a manager's call-back went (signed)
    app.include_router(create_review_router(settings))  # managers' pages under /review

    @app.post("/twilio/voice")
    async def voice(request: Request) -> Response:
        form = await signed_form(settings, request)
        if form is None:
            return Response("invalid Twilio signature", status_code=403)
        starting = len(app.state.pending_streams)  # streams waiting for their `start`
        if len(app.state.active_calls) + starting >= settings.max_calls:
            log.warning(
                "refused a call: server full",
                call_sid=form.get("CallSid"),
                active_calls=len(app.state.active_calls),
                starting_streams=starting,
            )
            return Response(say_and_hang_up(load_prompt("busy")), media_type=XML)
        call_sid, caller = form.get("CallSid", ""), form.get("From", "")
        if not CALL_ID.fullmatch(call_sid):
            log.warning("refused a call: CallSid is not an id", call_sid=call_sid[:80])
            return Response(hang_up(), media_type=XML)
        # The caller's number stays here (by CallSid); the stream gets a one-use token.
        token = await asyncio.to_thread(app.state.stream_tokens.issue, call_sid, caller)
        log.info("incoming call", call_sid=call_sid, caller=caller)
        return Response(connect_stream(settings.stream_url, call_sid, token), media_type=XML)

    @app.post("/twilio/status")
    async def status(request: Request) -> Response:
        form = await signed_form(settings, request)
        if form is None:
            return Response("invalid Twilio signature", status_code=403)
        log.info(
            "call status",
            call_sid=form.get("CallSid"),
            status=form.get("CallStatus"),
            duration=form.get("CallDuration"),
        )
        return Response(status_code=204)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ready = getattr(app.state, "engines", None) is not None
        return JSONResponse(
            {"status": "ok" if ready else "starting", "active_calls": len(app.state.active_calls)},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics")
    async def prometheus_metrics(request: Request) -> Response:
        if not settings.metrics_token:  # off: as if there were no such route
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if not _bearer_is(request.headers.get("authorization", ""), settings.metrics_token):
            return Response(
                "/metrics needs Authorization: Bearer <METRICS_TOKEN>",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        metrics.ACTIVE_CALLS.set(len(app.state.active_calls))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/twilio/media")
    async def media(websocket: WebSocket) -> None:
        await handle_media_stream(
            websocket,
            settings,
            app.state.engines,
            app.state.resources,
            app.state.store,
            app.state.call_control,
            app.state.active_calls,
            tokens=app.state.stream_tokens,
            pending=app.state.pending_streams,
            watchers=app.state.call_watchers,
        )

    return app


def _bearer_is(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 quotes what was submitted (`input`): a password too long for the
    login form came back in the answer. Say which field is wrong and why, never its value."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {key: value for key, value in error.items() if key in ("type", "loc", "msg")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
