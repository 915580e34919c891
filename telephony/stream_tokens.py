"""One-use tokens that tie a media stream to the signed voice webhook that asked for it.

Twilio signs the websocket upgrade over the stream URL alone, so that signature is the same for
every call: whoever has seen it once could open streams with any CallSid and any parameters.
So `/twilio/voice` (whose signature covers the call's fields) issues a token for its CallSid:

    v1.<CallSid>.<expiry, unix seconds>.<nonce>.<HMAC-SHA256(STREAM_TOKEN_SECRET, the rest)>

and puts it in the TwiML as `<Parameter name="token">`; Twilio hands it back in `start`. A
stream is accepted only with a token that verifies, names the CallSid its `start` names, has not
expired (STREAM_TOKEN_TTL_S, 60 s: Twilio connects within a second or two) and was not used
before. What the webhook said (the caller's number) is kept by CallSid, in this process's
memory and in the database (`voice/store/stream_grants.py`) for a stream that reaches another
worker; the stream's own parameters are never believed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from voice.logs import get_logger
from voice.settings import Settings
from voice.store.calls import Store
from voice.store.stream_grants import Grant, get_grant, save_grant, use_grant

log = get_logger(__name__)

VERSION = "v1"
TOKEN = re.compile(
    r"v1\.(?P<call>[A-Za-z0-9_-]{1,64})\.(?P<expires>[0-9]{1,12})"
    r"\.(?P<nonce>[0-9a-f]{32})\.(?P<signature>[A-Za-z0-9_-]{43})"
)
MAX_REMEMBERED = 10_000  # grants kept in memory; older ones are still in the database


class StreamTokenRefused(Exception):
    """Why a stream's token was not accepted (a short phrase, for the close reason and log)."""


class StreamTokens:
    def __init__(self, settings: Settings, store: Store, clock=time.time) -> None:
        secret = settings.stream_token_secret
        if not secret:
            log.warning(
                "STREAM_TOKEN_SECRET is not set: this process signs stream tokens with a random "
                "secret of its own, so a stream that reaches another worker will be refused"
            )
            secret = secrets.token_hex(32)
        self._key = _key(secret)
        self._ttl = settings.stream_token_ttl_s
        self._store = store
        self._clock = clock
        self._grants: OrderedDict[str, Grant] = OrderedDict()  # by CallSid, newest last
        self._used: set[str] = set()  # CallSids whose grant this process has used
        self._unsaved: set[str] = set()  # grants the database did not take (it was down)
        self._lock = threading.Lock()

    # -- the webhook ---------------------------------------------------------------------------

    def issue(self, call_sid: str, caller: str) -> str:
        """The token for this call's TwiML (blocking: it writes the grant). A retried or
        replayed webhook gets the same token back, so it can still be used only once.

        With the database unavailable (locked past its timeout, down) the grant is kept in
        this worker's memory only, with a warning: a stream reaching this worker still works."""
        expires = datetime.fromtimestamp(int(self._clock() + self._ttl), UTC)
        nonce = secrets.token_hex(16)
        try:
            grant = save_grant(self._store.engine, call_sid, caller, nonce, expires)
        except SQLAlchemyError as exc:
            log.warning(
                "stream grant kept in this worker only: the database is unavailable",
                call_sid=call_sid,
                error=type(exc).__name__,
            )
            with self._lock:
                grant = self._grants.get(call_sid) or Grant(call_sid, caller[:32], nonce, expires)
                self._unsaved.add(call_sid)
        self._remember(grant)
        return self._token(grant.call_sid, int(grant.expires_at.timestamp()), grant.nonce)

    def _token(self, call_sid: str, expires: int, nonce: str) -> str:
        return _token(self._key, call_sid, expires, nonce)

    def _sign(self, body: str) -> str:
        return _sign(self._key, body)

    # -- the stream ----------------------------------------------------------------------------

    def check(self, call_sid: str, token: object) -> str:
        """The nonce of a token that verifies, names this CallSid and has not expired;
        otherwise StreamTokenRefused with the reason."""
        if token is None or token == "":
            raise StreamTokenRefused("missing")
        match = TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None or not isinstance(token, str):
            raise StreamTokenRefused("malformed")
        named, expires, nonce, signature = match.groups()
        body = token.rsplit(".", 1)[0]
        if not hmac.compare_digest(self._sign(body), signature):
            raise StreamTokenRefused("bad signature")
        if not hmac.compare_digest(named.encode(), call_sid.encode()):
            raise StreamTokenRefused("issued for another call")
        if self._clock() > int(expires):
            raise StreamTokenRefused("expired")
        return nonce

    def use(self, call_sid: str, nonce: str) -> str:
        """Mark this call's grant used and return the caller's number from the webhook
        (blocking: it reads and writes the database). StreamTokenRefused when the grant is
        unknown here, another token's, or used already."""
        with self._lock:
            if call_sid in self._used:
                raise StreamTokenRefused("already used")
            grant = self._grants.get(call_sid)
            unsaved = call_sid in self._unsaved
        if grant is None:
            try:
                grant = get_grant(self._store.engine, call_sid)
            except SQLAlchemyError:
                grant = None  # and not in this worker's memory either: unknown
        if grant is None or not hmac.compare_digest(grant.nonce, nonce):
            raise StreamTokenRefused("unknown to this server")
        if not unsaved:
            try:
                if not use_grant(self._store.engine, call_sid, nonce):  # atomic across workers
                    raise StreamTokenRefused("already used")
            except SQLAlchemyError as exc:  # this worker's own memory still says it is unused
                log.warning(
                    "stream grant used in this worker only: the database is unavailable",
                    call_sid=call_sid,
                    error=type(exc).__name__,
                )
        with self._lock:
            if call_sid in self._used:  # a racing stream in this worker got here first
                raise StreamTokenRefused("already used")
            self._used.add(call_sid)
            self._unsaved.discard(call_sid)
            self._grants.pop(call_sid, None)
            while len(self._used) > MAX_REMEMBERED:
                self._used.pop()
        return grant.caller

    def _remember(self, grant: Grant) -> None:
        with self._lock:
            self._grants[grant.call_sid] = grant
            self._grants.move_to_end(grant.call_sid)
            now = datetime.fromtimestamp(self._clock(), UTC)
            while self._grants and (
                len(self._grants) > MAX_REMEMBERED
                or next(iter(self._grants.values())).expires_at < now
            ):
                gone, _ = self._grants.popitem(last=False)
                self._unsaved.discard(gone)


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"callcentre stream token\0" + secret.encode()).digest()


def _sign(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _token(key: bytes, call_sid: str, expires: int, nonce: str) -> str:
    body = f"{VERSION}.{call_sid}.{expires}.{nonce}"
    return f"{body}.{_sign(key, body)}"


def mint(secret: str, call_sid: str, expires: int, nonce: str | None = None) -> str:
    """A token as the server with `secret` would write it (tests and drills: an expired one,
    or one under the wrong secret)."""
    return _token(_key(secret), call_sid, expires, nonce or secrets.token_hex(16))
