"""Move, end or place calls over Twilio's REST API: hand-over to a person, hang-up, call-back.

Uses the `twilio` SDK (`client.calls(sid).update(...)`) with an HTTP client that sends its
requests to `settings.twilio_api_base`, so tests and the simulator can stand in for Twilio.
The SDK blocks, so each update runs in a worker thread with a timeout; a failed update is a
result (`ok=False`), never an exception: a call that cannot be transferred must still be
handled (apologise, take a callback request) rather than crash the caller's pipeline.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from telephony.callback_routes import CALLBACK_DIAL_PATH, CALLBACK_STATUS_PATH
from telephony.handover_routes import (
    DIAL_STATUS_PATH,
    WHISPER_PATH,
    WhisperNotes,
    shared_whisper_notes,
)
from voice.logs import get_logger
from voice.settings import Settings

log = get_logger(__name__)

CONNECTING_LINE = "Please hold while I connect you to a member of our team."
PLACEHOLDER_ACCOUNT_SID = "AC" + "0" * 32  # the settings default: never a real account
NEW_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
PLACED_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
CALLBACK_RING_S = 30  # how long each phone of a call-back rings


class ApiBaseHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with scheme and host replaced by `api_base` (plus its path)."""

    def __init__(self, api_base: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(api_base.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment)
        )

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        return super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


@dataclass(frozen=True)
class CallUpdateResult:
    ok: bool
    call_sid: str
    status: str = ""  # the call's status as Twilio reports it after the update
    error: str = ""


@dataclass(frozen=True)
class TransferResult(CallUpdateResult):
    whisper_id: str = ""  # the note the human hears; empty when the transfer failed


@dataclass(frozen=True)
class PlacedCall:
    """Twilio's answer to `calls.create`, checked: `ok` only for a call it really queued."""

    ok: bool
    sid: str = ""
    status: str = ""
    error: str = ""


def callback_twiml(briefing: str, caller_number: str, caller_id: str, action_url: str) -> str:
    """What the manager's phone runs once they answer: the briefing, then `<Dial>` the caller
    (shown our number); the dial's `action` reports how it ended (the call-back's outcome)."""
    response = VoiceResponse()
    response.say(briefing)
    dial = Dial(action=action_url, method="POST", caller_id=caller_id, timeout=CALLBACK_RING_S)
    dial.number(caller_number)
    response.append(dial)
    return str(response)


def transfer_twiml(
    connecting_line: str,
    human_number: str,
    whisper_url: str,
    action_url: str,
    dial_timeout_s: int = 30,
) -> str:
    """`<Say>` to the caller, then `<Dial><Number url=whisper>` so the human hears the note;
    the dial's `action` is told how it ended (an unanswered one becomes a callback)."""
    response = VoiceResponse()
    response.say(connecting_line)
    dial = Dial(action=action_url, method="POST", timeout=dial_timeout_s)
    dial.number(human_number, url=whisper_url)
    response.append(dial)
    return str(response)


class CallControl:
    """One per process; safe to use from many calls at once."""

    def __init__(
        self,
        settings: Settings,
        notes: WhisperNotes | None = None,
        *,
        timeout_s: float = 10.0,
        connecting_line: str = CONNECTING_LINE,
    ) -> None:
        self.settings = settings
        self.notes = notes if notes is not None else shared_whisper_notes()
        self.timeout_s = timeout_s
        self.connecting_line = connecting_line

    def whisper_url(self, note_id: str) -> str:
        return self.settings.public(f"{WHISPER_PATH}?{urlencode({'id': note_id})}")

    def dial_status_url(self, note_id: str) -> str:
        return self.settings.public(f"{DIAL_STATUS_PATH}?{urlencode({'id': note_id})}")

    async def transfer(
        self, call_sid: str, *, caller_name: str, reason: str, summary: str, number: str = ""
    ) -> TransferResult:
        """Replace what the call is doing with a hand-over to `number` (a supervisor taking
        the call to their own phone), else HUMAN_AGENT_NUMBER."""
        missing = self._missing(need_number=not number)
        if missing:
            return TransferResult(False, call_sid, error=f"not configured: {missing}")
        note_id = self.notes.add(caller_name, reason, summary)
        twiml = transfer_twiml(
            self.connecting_line,
            number or self.settings.human_agent_number,
            self.whisper_url(note_id),
            self.dial_status_url(note_id),
        )
        result = await self._update(call_sid, twiml=twiml)
        if not result.ok:
            self.notes.discard(note_id)
        log.info("transfer", call_sid=call_sid, ok=result.ok, error=result.error or None)
        return TransferResult(
            result.ok, call_sid, result.status, result.error, note_id if result.ok else ""
        )

    async def hang_up(self, call_sid: str) -> CallUpdateResult:
        missing = self._missing(need_number=False)
        if missing:
            return CallUpdateResult(False, call_sid, error=f"not configured: {missing}")
        result = await self._update(call_sid, status="completed")
        log.info("hang up", call_sid=call_sid, ok=result.ok, error=result.error or None)
        return result

    async def place_callback(
        self, attempt_id: int, *, ring_first: str, caller_number: str, briefing: str
    ) -> PlacedCall:
        """Ring `ring_first` (the manager) from TWILIO_CALLER_ID; when they answer they hear
        `briefing` and the caller is dialled. Twilio's answer is checked, never trusted."""
        missing = self._missing(need_number=False, need_caller_id=True)
        if missing:
            return PlacedCall(False, error=f"not configured: {missing}")
        query = urlencode({"attempt": attempt_id})
        twiml = callback_twiml(
            briefing,
            caller_number,
            self.settings.twilio_caller_id,
            self.settings.public(f"{CALLBACK_DIAL_PATH}?{query}"),
        )
        fields = {
            "to": ring_first,
            "from_": self.settings.twilio_caller_id,
            "twiml": twiml,
            "timeout": CALLBACK_RING_S,
            "status_callback": self.settings.public(f"{CALLBACK_STATUS_PATH}?{query}"),
            "status_callback_event": ["initiated", "ringing", "answered", "completed"],
            "status_callback_method": "POST",
        }
        try:
            call = await asyncio.wait_for(
                asyncio.to_thread(lambda: self._rest().calls.create(**fields)), self.timeout_s + 1
            )
        except TwilioRestException as exc:
            result = PlacedCall(False, error=_describe(exc))
        except TimeoutError:
            result = PlacedCall(False, error=f"Twilio did not answer within {self.timeout_s}s")
        except Exception as exc:  # network errors, bad responses: shown, never swallowed
            result = PlacedCall(False, error=f"{type(exc).__name__}: {exc}")
        else:
            result = _checked(call)
        log.info("call-back placed", attempt=attempt_id, ok=result.ok, error=result.error or None)
        return result

    def _missing(self, need_number: bool, need_caller_id: bool = False) -> str:
        s = self.settings
        names = [
            name
            for name, unset in (
                ("TWILIO_ACCOUNT_SID", s.twilio_account_sid in ("", PLACEHOLDER_ACCOUNT_SID)),
                ("TWILIO_AUTH_TOKEN", not s.twilio_auth_token),
                ("HUMAN_AGENT_NUMBER", need_number and not s.human_agent_number),
                ("TWILIO_CALLER_ID", need_caller_id and not s.twilio_caller_id),
            )
            if unset
        ]
        return ", ".join(names)

    async def _update(self, call_sid: str, **fields: Any) -> CallUpdateResult:
        if not call_sid:
            return CallUpdateResult(False, call_sid, error="no call sid")
        try:
            call = await asyncio.wait_for(
                asyncio.to_thread(self._blocking_update, call_sid, fields), self.timeout_s + 1.0
            )
        except TwilioRestException as exc:
            return CallUpdateResult(False, call_sid, error=_describe(exc))
        except TimeoutError:
            return CallUpdateResult(False, call_sid, error=f"timed out after {self.timeout_s}s")
        except Exception as exc:  # network errors, bad responses: a result, never a crash
            return CallUpdateResult(False, call_sid, error=f"{type(exc).__name__}: {exc}")
        return CallUpdateResult(True, call_sid, status=str(call.status or ""))

    def _blocking_update(self, call_sid: str, fields: dict[str, Any]) -> Any:
        return self._rest().calls(call_sid).update(**fields)

    def _rest(self) -> Client:
        """A client per update: transfers are rare, and a requests session shared between
        worker threads is not guaranteed to be safe."""
        http = ApiBaseHttpClient(self.settings.twilio_api_base, timeout=self.timeout_s)
        return Client(
            self.settings.twilio_account_sid, self.settings.twilio_auth_token, http_client=http
        )


def _checked(call: Any) -> PlacedCall:
    """`calls.create` answered 2xx: still, only a new call's sid in a placed state counts."""
    sid, status = str(getattr(call, "sid", "") or ""), str(getattr(call, "status", "") or "")
    if not NEW_CALL_SID.fullmatch(sid):
        return PlacedCall(False, sid[:64], status, f"Twilio answered without a call sid ({sid!r})")
    if status not in PLACED_STATUSES:
        return PlacedCall(
            False, sid, status, f"Twilio answered with the call {status or 'in no state'}"
        )
    return PlacedCall(True, sid, status)


def _describe(exc: TwilioRestException) -> str:
    code = f" (error {exc.code})" if exc.code else ""  # "code N" would be masked as a secret
    return f"Twilio answered {exc.status}{code}: {exc.msg}"
