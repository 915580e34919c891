"""What the human agent hears before a transferred caller is put through (the "whisper").

`CallControl.transfer` files a note here and dials the human with
`<Number url=".../twilio/whisper?id=…">`; when the human answers, Twilio POSTs that URL
(signed, like every webhook) and plays our `<Say>` to the human only. The URL carries a random
id, never the summary: URLs end up in Twilio's logs and our access logs.

If the human does not answer (busy, no answer, failed), Twilio posts the `<Dial>`'s `action`
(`/twilio/dial-status?id=…`): the caller hears that a person will call back, and a callback
request is stored with the note's reason and summary, as when the REST transfer itself fails.

Notes live in memory for a short while (a transfer is answered within a minute or two), so
the process that transferred the call must be the one that serves the whisper. A deployment
with several workers needs sticky routing for `/twilio/whisper` or a shared store.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from twilio.twiml.voice_response import VoiceResponse

from telephony.signatures import signed_form
from voice.logs import get_logger
from voice.prompts import load_prompt
from voice.settings import Settings
from voice.store.callbacks import request_callback

log = get_logger(__name__)

WHISPER_PATH = "/twilio/whisper"
DIAL_STATUS_PATH = "/twilio/dial-status"
MAX_SUMMARY_CHARS = 600  # the caller waits on hold while the human listens to this


@dataclass(frozen=True)
class WhisperNote:
    caller_name: str
    reason: str
    summary: str
    created: float


class WhisperNotes:
    """Notes by random id; thread-safe, bounded, forgotten after `ttl_s`."""

    def __init__(
        self,
        ttl_s: float = 900.0,
        max_notes: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s, self._max, self._clock = ttl_s, max_notes, clock
        self._notes: OrderedDict[str, WhisperNote] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, caller_name: str, reason: str, summary: str) -> str:
        note_id = secrets.token_urlsafe(12)
        with self._lock:
            self._expire()
            self._notes[note_id] = WhisperNote(caller_name, reason, summary, self._clock())
            while len(self._notes) > self._max:
                self._notes.popitem(last=False)
        return note_id

    def get(self, note_id: str) -> WhisperNote | None:
        with self._lock:
            self._expire()
            return self._notes.get(note_id)

    def discard(self, note_id: str) -> None:
        with self._lock:
            self._notes.pop(note_id, None)

    def _expire(self) -> None:
        cutoff = self._clock() - self._ttl_s
        while self._notes and next(iter(self._notes.values())).created < cutoff:
            self._notes.popitem(last=False)


_shared = WhisperNotes()


def shared_whisper_notes() -> WhisperNotes:
    """The process-wide registry `CallControl` and the router use unless given another."""
    return _shared


def whisper_text(note: WhisperNote | None) -> str:
    if note is None:  # expired or unknown: still tell the human what is happening
        return "Incoming transfer from the voice agent. No notes are available for this caller."
    summary = note.summary.strip()
    if len(summary) > MAX_SUMMARY_CHARS:
        summary = summary[:MAX_SUMMARY_CHARS].rsplit(" ", 1)[0] + "…"
    parts = [
        "Incoming transfer from the voice agent.",
        f"Caller: {note.caller_name.strip() or 'name not given'}.",
        f"Reason: {note.reason.strip().rstrip('.')}.",
    ]
    if summary:
        parts.append(f"Summary: {summary}")
    return " ".join(parts)


def whisper_twiml(note: WhisperNote | None) -> str:
    response = VoiceResponse()
    response.say(whisper_text(note))
    return str(response)


def after_dial_twiml(answered: bool) -> str:
    """What the caller hears once the `<Dial>` is over: nothing more after a conversation;
    otherwise the promise of a callback."""
    response = VoiceResponse()
    if not answered:
        response.say(load_prompt("callback"))
    response.hangup()
    return str(response)


def handover_router(settings: Settings, notes: WhisperNotes | None = None) -> APIRouter:
    """`POST /twilio/whisper?id=…` answers the note as TwiML `<Say>`; `POST
    /twilio/dial-status?id=…` follows a dial the human did not answer. Both signed."""
    registry = notes if notes is not None else shared_whisper_notes()
    router = APIRouter()
    refused = Response("invalid Twilio signature", status_code=403)

    @router.post(WHISPER_PATH)
    async def whisper(request: Request) -> Response:
        form = await signed_form(settings, request)
        if form is None:
            return refused
        note = registry.get(request.query_params.get("id", ""))
        log.info("whisper", call_sid=form.get("CallSid"), found=note is not None)
        return Response(whisper_twiml(note), media_type="application/xml")

    @router.post(DIAL_STATUS_PATH)
    async def dial_status(request: Request) -> Response:
        form = await signed_form(settings, request)
        if form is None:
            return refused
        status = form.get("DialCallStatus", "")
        answered = status in ("completed", "answered")
        log.info("dial finished", call_sid=form.get("CallSid"), dial_status=status)
        if not answered:
            await asyncio.to_thread(
                _store_callback,
                request.app.state.store.engine,
                form,
                registry.get(request.query_params.get("id", "")),
                status,
            )
        return Response(after_dial_twiml(answered), media_type="application/xml")

    return router


def _store_callback(
    engine: Engine, form: dict[str, str], note: WhisperNote | None, status: str
) -> None:
    reason = f"The person did not answer the transfer ({status or 'no status'})"
    if note is not None:
        reason += f"; the caller wanted: {note.reason.strip().rstrip('.')}"
    request_callback(
        engine,
        call_sid=form.get("CallSid", ""),
        phone=form.get("From", ""),
        name=note.caller_name if note else "",
        reason=reason,
        summary=note.summary if note else "",
    )
