"""A local stand-in of an OpenAI-compatible chat server (vLLM, llama.cpp) for tests.

It streams server-sent events like the real API. `script` decides each answer from the
request: a list of tool calls to make, or text to say.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

Answer = dict[str, Any]  # {"text": str} or {"tool_calls": [(name, arguments_json), ...]}


@dataclass
class OpenAIStandin:
    script: Callable[[dict], Answer]
    requests: list[dict] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OpenAIStandin:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(_app(self), host="127.0.0.1", port=self.port, log_level="warning")
        )
        threading.Thread(target=self._server.run, daemon=True).start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.should_exit = True


def _chunk(delta: dict, finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "standin",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def _events(answer: Answer):
    if "tool_calls" in answer:
        for i, (name, arguments) in enumerate(answer["tool_calls"]):
            yield _chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
            half = len(arguments) // 2  # arguments arrive in pieces, as they do for real
            for piece in (arguments[:half], arguments[half:]):
                yield _chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        yield _chunk({}, "tool_calls")
    else:
        for word in answer["text"].split(" "):
            yield _chunk({"content": word + " "})
        yield _chunk({}, "stop")
    yield "data: [DONE]\n\n"


def _app(standin: OpenAIStandin) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> StreamingResponse:
        body = await request.json()
        standin.requests.append(body)
        return StreamingResponse(_events(standin.script(body)), media_type="text/event-stream")

    return app
