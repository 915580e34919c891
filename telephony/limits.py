"""A body-size limit for Twilio's webhooks: Twilio posts forms of a few hundred bytes.

Without it a client may post megabytes that the form parser reads into memory before the
signature check can refuse them. Pure ASGI, so nothing is read past the limit: a declared
Content-Length over it is refused at once, a chunked body as soon as it grows past it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_WEBHOOK_BODY = 64 * 1024


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for a request body over `max_bytes` on paths under `prefix`; 400 for a
    Content-Length that is not a number."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_WEBHOOK_BODY, prefix: str = "/twilio/"
    ) -> None:
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

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
        """A chunked body declares no length: count it as the app reads it."""
        received, started = 0, False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, b"request body too large")


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
