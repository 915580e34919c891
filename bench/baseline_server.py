"""The baseline for `bench/latency.py`: a bot built the way pipecat's Twilio example builds one.

pipecat's example (pipecat-examples `twilio-chatbot`, written for pipecat 1.x APIs):

    transport.input() -> STT -> user context aggregator -> LLM -> TTS -> transport.output()
        -> assistant context aggregator

with Silero VAD at its default parameters on the user aggregator, pipecat's default user turn
strategies (VAD to start a turn, the Smart-Turn v3 model to end it) and an `LLMContext`.
Here the services are the same models our agent uses: pipecat's `WhisperSTTService` with the
packaged Whisper base (CPU, int8), our transformers LLM and our hibari voice (see
`bench/baseline_services.py`). The example's 8 kHz input is raised to 16 kHz because Whisper
reads 16 kHz and pipecat's STT services do not resample (our pipeline does the same).

It speaks the same websocket protocol as our server, so the same simulator drives both.
Signatures are not checked: it only ever runs on localhost, under the bench.

    .venv/bin/python -m bench.baseline_server --port 8090 --events /tmp/events
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from bench.baseline_services import (
    LocalLLMService,
    LocalTTSService,
    SharedWhisperSTTService,
    shared_llm,
    shared_tts,
    shared_whisper,
)
from bench.stage_log import StageLog
from telephony.twiml import connect_stream
from voice.prompts import load_prompt

log = logging.getLogger("baseline")

IN_RATE = 16000  # Whisper's rate (the example's 8000 suits Deepgram, which takes 8 kHz)
OUT_RATE = 8000


async def read_start(websocket: WebSocket) -> dict:
    """Twilio's `connected` then `start`: what pipecat's `parse_telephony_websocket` reads."""
    while True:
        message = json.loads(await websocket.receive_text())
        if message.get("event") == "start":
            return message


def build_worker(
    websocket: WebSocket, start: dict, stage_log: StageLog
) -> tuple[PipelineWorker, FastAPIWebsocketTransport]:
    info = start["start"]
    serializer = TwilioFrameSerializer(
        stream_sid=start.get("streamSid") or info["streamSid"],
        call_sid=info["callSid"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    context = LLMContext([{"role": "system", "content": load_prompt("system")}])
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    pipeline = Pipeline(
        [
            transport.input(),
            SharedWhisperSTTService(),
            user_aggregator,
            LocalLLMService(shared_llm()),
            LocalTTSService(shared_tts()),
            transport.output(),
            assistant_aggregator,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=IN_RATE,
            audio_out_sample_rate=OUT_RATE,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
        observers=[stage_log],
        enable_rtvi=False,
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_client_connected")
    async def _greet(_transport, _client) -> None:
        context.add_message({"role": "system", "content": "Please introduce yourself to the user."})
        await worker.queue_frames([LLMRunFrame()])

    @transport.event_handler("on_client_disconnected")
    async def _gone(_transport, _client) -> None:
        await worker.cancel()

    return worker, transport


def create_app(events_dir: Path) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.gather(
            asyncio.to_thread(shared_whisper),
            asyncio.to_thread(shared_llm),
            asyncio.to_thread(shared_tts),
        )
        app.state.ready = True
        yield

    app = FastAPI(title="pipecat baseline", lifespan=lifespan)
    app.state.ready = False
    app.state.active_calls = 0

    @app.post("/twilio/voice")
    async def voice(request: Request) -> Response:
        form = await request.form()
        stream_url = f"ws://{request.url.netloc}/twilio/media"
        twiml = connect_stream(stream_url, call_sid=str(form.get("CallSid", "")), token="")
        return Response(twiml, media_type="application/xml")

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok" if app.state.ready else "starting",
                "active_calls": app.state.active_calls,
            },
            status_code=200 if app.state.ready else 503,
        )

    @app.websocket("/twilio/media")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            start = await read_start(websocket)
        except WebSocketDisconnect:
            return
        t0 = time.monotonic()
        call_sid = start["start"]["callSid"]
        stage_log = StageLog(events_dir / f"{call_sid}.jsonl", t0)
        app.state.active_calls += 1
        try:
            worker, _ = build_worker(websocket, start, stage_log)
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            await runner.run()
        finally:
            app.state.active_calls -= 1
            stage_log.close()

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--events", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.events.mkdir(parents=True, exist_ok=True)
    uvicorn.run(create_app(args.events), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
