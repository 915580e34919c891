"""The pipecat side of one phone call: the transport around Twilio's websocket, the pipeline
(`build.py`), and running it until the call ends.

`voice/call/phone.py` owns the call (its session, dialogue and closing); this module only turns the
websocket into frames and back, so that nothing outside `voice/pipeline/` touches pipecat.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from voice.conversation import Conversation
from voice.engines.loaded import VoiceEngines
from voice.pipeline.build import build_call_pipeline
from voice.pipeline.pipecat_compat import send_ahead_at_reply_start
from voice.pipeline.serializer import CallSerializer
from voice.session import CallSession
from voice.settings import Settings

# The first 200 ms of each reply go out at once: the phone's buffer against a busy event loop
# (2 gaps of 20 ms in greetings at 6 calls without it, bench/load.py).
REPLY_LEAD_FRAMES = 10


class CallPipeline:
    """Built around an accepted websocket whose `start` message has been read; `run()` returns
    when the call is over (Twilio's `stop`, the socket gone, or the agent hanging up)."""

    def __init__(
        self,
        websocket: Any,  # starlette's WebSocket, already accepted
        session: CallSession,
        engines: VoiceEngines,
        conversation: Conversation,
        settings: Settings,
    ) -> None:
        self._session = session
        self.transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                audio_out_10ms_chunks=2,
                serializer=CallSerializer(session, self._stream_stopped),
                allowed_origins=[],
            ),
        )
        send_ahead_at_reply_start(self.transport.output(), REPLY_LEAD_FRAMES)
        self.worker, self.responder = build_call_pipeline(
            self.transport, session, engines, conversation, settings
        )
        self.transport.event_handler("on_client_connected")(self._connected)
        self.transport.event_handler("on_client_disconnected")(self._disconnected)

    async def run(self) -> None:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        await runner.run()

    def _stream_stopped(self) -> None:
        """Twilio sent `stop` (the serializer has set the end reason)."""
        asyncio.get_running_loop().create_task(self.worker.cancel(reason="stream stopped"))

    async def _connected(self, _transport: object, _websocket: object) -> None:
        await self.responder.greet()

    async def _disconnected(self, _transport: object, _websocket: object) -> None:
        self._session.end("connection_lost")
        await self.worker.cancel(reason="client disconnected")
