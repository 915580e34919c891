"""Twilio Media Streams <-> pipecat frames, with the call's recorder tapped in.

pipecat's `TwilioFrameSerializer` does the audio conversion towards Twilio; this subclass adds
what a support line needs on top: marks both ways, `stop`, recording exactly what crossed the
wire, caller audio brought to the pipeline's rate frame by frame (voice/pipeline/upsampler.py),
and bad input answered with a log line instead of an exception.
"""

from __future__ import annotations

import audioop  # stdlib on Python 3.11 (pipecat uses it too)
import base64
import binascii
import json
import math
from collections.abc import Callable

from pipecat.frames.frames import AudioRawFrame, Frame, InputAudioRawFrame, InterruptionFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.twilio import TwilioFrameSerializer

from voice.log_budget import LimitedWarnings, clip
from voice.logs import get_logger
from voice.pipeline.frames import PlaybackMarkFrame, SpeechMarkFrame
from voice.pipeline.upsampler import Upsampler
from voice.session import CallSession

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # a 20 ms media frame is ~300 bytes
TWILIO_RATE = 8000


class CallSerializer(TwilioFrameSerializer):
    def __init__(self, session: CallSession, on_stop: Callable[[], None]) -> None:
        super().__init__(
            stream_sid=session.stream_sid,
            call_sid=session.call_sid,
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),  # we transfer calls
        )
        self._session = session
        self._on_stop = on_stop
        self.bad_messages = 0
        self._upsampler: Upsampler | None = None  # made once `setup` gave the pipeline's rate
        # A few lines per stream, then counted: one summary line when the call closes.
        self._warnings = LimitedWarnings(log, "bad media stream message")
        session.on_close.append(
            lambda: self._warnings.summary(call_sid=session.call_sid, stream_sid=session.stream_sid)
        )

    # pipecat types BaseObject.setup with a task manager and FrameSerializer.setup with this.
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await super().setup(setup)
        self._upsampler = Upsampler(TWILIO_RATE, setup.audio_in_sample_rate)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, SpeechMarkFrame):
            return json.dumps(
                {
                    "event": "mark",
                    "streamSid": self._session.stream_sid,
                    "mark": {"name": frame.mark_name},
                }
            )
        if isinstance(frame, InterruptionFrame):
            self._session.on_clear_sent()
            self._session.event("clear_sent")
        elif isinstance(frame, AudioRawFrame) and frame.sample_rate == TWILIO_RATE:
            self._session.recorder.agent_audio(frame.audio)
        return await super().serialize(frame)

    async def deserialize(self, data: str | bytes) -> Frame | None:
        message = self._parse(data)
        if message is None:
            return None
        kind = message.get("event")
        if kind == "media":
            return await self._media(message)
        if kind == "mark":
            name = (message.get("mark") or {}).get("name")
            if name:
                return PlaybackMarkFrame(mark=str(name))
            self._bad("mark without name")
            return None
        if kind == "dtmf":
            return await super().deserialize(data)
        if kind == "stop":
            self._session.end("caller_hangup")
            self._session.event("stop_received")
            self._on_stop()
            return None
        if kind in ("connected", "start"):
            self._bad(f"unexpected {kind} after start")
            return None
        self._bad(f"unknown event {kind!r}")
        return None

    def _parse(self, data: str | bytes) -> dict | None:
        if len(data) > MAX_MESSAGE_BYTES:
            self._bad(f"oversized message ({len(data)} bytes)")
            return None
        try:
            message = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            self._bad("invalid JSON")
            return None
        if not isinstance(message, dict):
            self._bad("message is not a JSON object")
            return None
        return message

    async def _media(self, message: dict) -> Frame | None:
        media = message.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            self._bad("media without payload")
            return None
        try:
            payload = base64.b64decode(media["payload"], validate=True)
        except (binascii.Error, ValueError):
            self._bad("media payload is not base64")
            return None
        if not payload:
            return None
        # Decode once: the recording keeps 8 kHz, the pipeline gets its own rate.
        pcm8k = audioop.ulaw2lin(payload, 2)
        timestamp = _timestamp_ms(media.get("timestamp"))
        if timestamp is not None and not math.isfinite(timestamp):
            self._bad("media timestamp is not a finite number")  # the audio still counts
            timestamp = None
        # The recorder clamps it to a window around the call's own clock.
        self._session.recorder.caller_audio(pcm8k, timestamp)
        if self._upsampler is None:
            self._bad("media before the pipeline started")
            return None
        pcm = self._upsampler(pcm8k)
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=self._upsampler.out_rate)

    def _bad(self, reason: str) -> None:
        self.bad_messages += 1
        reason = clip(reason)
        self._warnings.warn(reason)
        if self.bad_messages <= 20:  # a flood must not flood the call's event log too
            self._session.event("bad_message", reason=reason)
        return None


def _timestamp_ms(value: object) -> float | None:
    if not isinstance(value, str | int | float):
        return None
    try:
        return float(value)  # Twilio sends it as a string of milliseconds
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer of 400 digits
        return None
