"""Request bodies: at most 64 KB, and all of it within HTTP_READ_TIMEOUT_S.

Twilio posts forms of a few hundred bytes; review's forms (a login, a tag, a note of at most
4000 characters) are a few KB. Without a limit a client may post megabytes that the form
parser reads into memory before the signature check, or the login, can refuse them (a 40 MB
unauthenticated login body was parsed); without a deadline it may send a body a byte a
minute and hold the request open for ever. Pure ASGI, so nothing is read past the limit: a
declared Content-Length over it is refused at once (413), a chunked body as soon as it grows
past it (413), a body still incomplete at the deadline gets 408. Whatever the app would have
answered to a body refused here is dropped, so the client sees this module's answer.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
MAX_WEBHOOK_BODY = MAX_BODY  # the name this limit had when only webhooks had it
READ_TIMEOUT_S = 10.0


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class BodySizeLimit:
    """413 for a request body over `max_bytes` on paths under `prefix` (every path by
    default); 400 for a Content-Length that is not a number; 408 for a body not received in
    full within `read_timeout_s` of the request's head."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY,
        prefix: str = "/",
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            await _refuse(send, 400, b"bad Content-Length")
        elif declared > self.max_bytes:
            await _refuse(send, 413, b"request body too large")
        else:
            await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A chunked body declares no length, a slow one may never end: count it and time it
        as the app reads it."""
        received, body_done, started, refused = 0, False, False, False
        deadline = asyncio.get_running_loop().time() + self.read_timeout_s

        async def refuse(status: int, text: bytes) -> None:
            nonlocal refused
            if not started and not refused:
                refused = True
                await _refuse(send, status, text)

        async def counted_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body: waiting for a disconnect is not bounded here
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await refuse(408, b"request body not received in time")
                raise BodyTimeout from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    await refuse(413, b"request body too large")
                    raise BodyTooLarge
                body_done = not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if refused:  # the app's answer to a body refused here (e.g. FastAPI's 400)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        # Answered in `refuse` (or the response had begun: the connection is closed).
        with contextlib.suppress(BodyTooLarge, BodyTimeout):
            await self.app(scope, counted_receive, watched_send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; 0 when none is declared (chunked); None when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else None
    return 0


async def _refuse(send: Send, status: int, text: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
