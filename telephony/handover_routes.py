"""What the human agent hears before a transferred caller is put through (the "whisper").

`CallControl.transfer` files a note here and dials the human with
`<Number url=".../twilio/whisper?id=…">`; when the human answers, Twilio POSTs that URL
(signed, like every webhook) and plays our `<Say>` to the human only. The URL carries a random
id, never the summary: URLs end up in Twilio's logs and our access logs.

Notes live in memory for a short while (a transfer is answered within a minute or two), so
the process that transferred the call must be the one that serves the whisper. A deployment
with several workers needs sticky routing for `/twilio/whisper` or a shared store.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from telephony.signatures import SIGNATURE_HEADER, is_signed
from voice.logs import get_logger
from voice.settings import Settings

log = get_logger(__name__)

WHISPER_PATH = "/twilio/whisper"
MAX_SUMMARY_CHARS = 600  # the caller waits on hold while the human listens to this


@dataclass(frozen=True)
class WhisperNote:
    caller_name: str
    reason: str
    summary: str
    created: float


class WhisperNotes:
    """Notes by random id; thread-safe, bounded, forgotten after `ttl_s`."""

    def __init__(self, ttl_s: float = 900.0, max_notes: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
    parts = ["Incoming transfer from the voice agent.",
             f"Caller: {note.caller_name.strip() or 'name not given'}.",
             f"Reason: {note.reason.strip().rstrip('.')}."]
    if summary:
        parts.append(f"Summary: {summary}")
    return " ".join(parts)


def whisper_twiml(note: WhisperNote | None) -> str:
    response = VoiceResponse()
    response.say(whisper_text(note))
    return str(response)


def handover_router(settings: Settings, notes: WhisperNotes | None = None) -> APIRouter:
    """`POST /twilio/whisper?id=…`: signed by Twilio, answers the note as TwiML `<Say>`."""
    registry = notes if notes is not None else shared_whisper_notes()
    router = APIRouter()

    @router.post(WHISPER_PATH)
    async def whisper(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = settings.public(request.url.path)  # behind a proxy: the URL Twilio signed
        if request.url.query:
            url = f"{url}?{request.url.query}"
        if not is_signed(settings, url, form, request.headers.get(SIGNATURE_HEADER)):
            log.warning("refused unsigned webhook", path=request.url.path)
            return Response("invalid Twilio signature", status_code=403)
        note = registry.get(request.query_params.get("id", ""))
        log.info("whisper", call_sid=form.get("CallSid"), found=note is not None)
        return Response(whisper_twiml(note), media_type="application/xml")

    return router
