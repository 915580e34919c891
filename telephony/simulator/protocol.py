"""One live media stream, Twilio's side of it: the 20 ms pacing clock, the messages both ways
(`connected`, `start`, `media`, `mark`, `dtmf`, `stop`; `media`, `mark`, `clear` back), both
audio tracks, and what the caller does on it (speak a WAV, press digits, wait for the agent)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from telephony.audio_files import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    mulaw_decode,
    mulaw_encode,
    speech_bounds,
)
from telephony.simulator.playout import SILENT_FRAME, Playout
from telephony.simulator.results import CallEnded, SimulatedTurn, SimulatorError

if TYPE_CHECKING:
    from telephony.phone_line import PhoneLine

log = logging.getLogger("telephony.simulator")

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
IDLE_S = 1.5  # the agent has finished a reply when nothing more arrived or played for this long
DTMF_GAP_S = 0.25
BARGE_IN_AFTER_S = 1.0
POLL_S = 0.01
LOUD_PEAK = 256  # agent audio quieter than this (about -42 dBFS) counts as silence


class MediaStream:
    """One live media stream: the pacing clock, both audio tracks and what the server sent."""

    def __init__(
        self,
        ws: ClientConnection,
        *,
        call_sid: str,
        stream_sid: str,
        account_sid: str,
        reply_timeout_s: float,
        line: PhoneLine | None = None,
    ) -> None:
        self.ws = ws
        self.line = line  # noise and echo the phone adds (telephony/phone_line.py)
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.account_sid = account_sid
        self.reply_timeout_s = reply_timeout_s
        self.t0 = time.monotonic()
        self.closed = asyncio.Event()
        self.playout = Playout()
        self.turns: list[SimulatedTurn] = []
        self.agent_frames: list[np.ndarray] = []
        self.caller_frames: list[np.ndarray] = []
        self.loud_rx: list[float] = []  # arrival times of agent media that is not silence
        self.loud_played: list[float] = []  # start times of ticks that played such audio
        self.last_rx = -math.inf
        self.last_played = -math.inf
        self.clears: list[float] = []
        self.marks_received: list[str] = []
        self.marks_echoed: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._seq = 0
        self._chunk = 0
        self._send_lock = asyncio.Lock()
        self._held: np.ndarray | None = None
        self._utterance: deque[np.ndarray] = deque()  # caller frames still to be captured
        self._utterance_start: float | None = None
        self._stopping = False
        self._warned_sid = False

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- sending -----------------------------------------------------------------------------

    async def send(self, event: str, **fields: Any) -> None:
        """Send one message, numbered by the counter that all messages after `connected` share."""
        async with self._send_lock:  # numbers must go out in order
            self._seq += 1
            message = {"event": event, "sequenceNumber": str(self._seq), **fields}
            await self.ws.send(json.dumps(message))

    async def send_start(self, custom_parameters: dict[str, str]) -> None:
        await self.ws.send(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        self.t0 = time.monotonic()
        start = {
            "accountSid": self.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "customParameters": custom_parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1},
        }
        await self.send("start", streamSid=self.stream_sid, start=start)

    async def send_stop(self) -> None:
        stop = {"accountSid": self.account_sid, "callSid": self.call_sid}
        await self.send("stop", streamSid=self.stream_sid, stop=stop)

    async def _send_media(self, frame: np.ndarray, timestamp_ms: int) -> None:
        self._chunk += 1
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(mulaw_encode(frame)).decode("ascii"),
        }
        await self.send("media", streamSid=self.stream_sid, media=media)

    async def _echo_marks(self, names: list[str]) -> None:
        for name in names:
            await self.send("mark", streamSid=self.stream_sid, mark={"name": name})
            self.marks_echoed.append(name)

    # -- the 20 ms clock -----------------------------------------------------------------------

    async def run_clock(self) -> None:
        """Tick every 20 ms until stopped, scheduled against t0 so that it never drifts.

        A late tick is caught up at once, so tick k always stands for time k * 20 ms.
        """
        tick = 0
        try:
            while True:
                await asyncio.sleep(max(0.0, self.t0 + tick * FRAME_S - time.monotonic()))
                if self._stopping:
                    return
                await self._tick(tick)
                tick += 1
        except ConnectionClosed:
            pass
        finally:
            if not self._stopping:
                self.closed.set()  # the caller's script must not wait on a dead clock

    def stop_clock(self) -> None:
        """Stop sending; on a hang-up, the rest of the WAV is never spoken."""
        self._stopping = True
        self._utterance.clear()

    async def _tick(self, tick: int) -> None:
        # Like a phone, the frame captured during the last 20 ms is sent once it is complete.
        if self._held is not None:
            await self._send_media(self._held, (tick - 1) * 20)
        frame, finished, played = self.playout.tick()
        self._held = self._next_caller_frame(tick)
        if self.line is not None:
            self._held = self.line.caller_frame(self._held, frame)
        self.caller_frames.append(self._held)
        self.agent_frames.append(frame)
        if played:
            self.last_played = (tick + 1) * FRAME_S
        if np.abs(frame.astype(np.int32)).max() > LOUD_PEAK:
            self.loud_played.append(tick * FRAME_S)
        await self._echo_marks(finished)

    def _next_caller_frame(self, tick: int) -> np.ndarray:
        if not self._utterance:
            return SILENT_FRAME
        if self._utterance_start is None:
            self._utterance_start = tick * FRAME_S
        return self._utterance.popleft()

    # -- receiving -----------------------------------------------------------------------------

    async def receive(self) -> None:
        """Handle every message from the server until the websocket closes."""
        try:
            async for raw in self.ws:
                await self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def _handle(self, raw: str | bytes) -> None:
        t = round(self.now(), 3)
        try:
            message = json.loads(raw)
            event = message["event"]
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring a message that is not Twilio JSON: %.80r", raw)
            return
        self.events.append(_without_payload(message) | {"t": t})
        if message.get("streamSid") != self.stream_sid and not self._warned_sid:
            self._warned_sid = True  # once: media would repeat it 50 times a second
            log.warning("%s message with streamSid %r", event, message.get("streamSid"))
        try:
            await self._dispatch(event, message, t)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            log.warning("ignoring a malformed %s message: %s", event, exc)

    async def _dispatch(self, event: str, message: dict[str, Any], t: float) -> None:
        if event == "media":
            pcm = mulaw_decode(base64.b64decode(message["media"]["payload"], validate=True))
            self.playout.add_audio(pcm)
            self.last_rx = t
            if pcm.size and np.abs(pcm.astype(np.int32)).max() > LOUD_PEAK:
                self.loud_rx.append(t)
        elif event == "mark":
            name = str(message["mark"]["name"])
            self.marks_received.append(name)
            self.playout.add_mark(name)
        elif event == "clear":
            self.clears.append(t)
            await self._echo_marks(self.playout.clear())
        else:
            log.warning("Twilio would reject a %r message from the server", event)

    # -- what the caller does ------------------------------------------------------------------

    async def speak(self, index: int, label: str, audio: np.ndarray) -> None:
        """Play one WAV turn in real time; returns once its last frame has been captured."""
        padded = np.concatenate([audio, np.zeros(-audio.size % FRAME_SAMPLES, dtype=np.int16)])
        self._utterance_start = None
        self._utterance.extend(padded.reshape(-1, FRAME_SAMPLES))
        await self.wait_until(lambda: self._utterance_start is not None, math.inf)
        start = self._utterance_start or 0.0
        _, speech_end = speech_bounds(audio)
        self.turns.append(
            SimulatedTurn(index, label, round(start, 3), round(start + speech_end, 3))
        )
        log.info("turn %d: caller plays %s at %.2f s", index + 1, label, start)
        await self.wait_until(lambda: not self._utterance, math.inf)

    async def press(self, index: int, label: str, digits: str) -> None:
        """Send the digits of a `dtmf:` turn as Twilio `dtmf` events, 250 ms apart."""
        first = self.now()
        for i, digit in enumerate(digits):
            await self.sleep_until(first + i * DTMF_GAP_S)
            sent = round(self.now(), 3)
            if i == 0:
                self.turns.append(SimulatedTurn(index, label, sent, sent))
            dtmf = {"track": "inbound_track", "digit": digit}
            await self.send("dtmf", streamSid=self.stream_sid, dtmf=dtmf)
            self.turns[-1].caller_end_s = sent
        log.info("turn %d: caller pressed %s", index + 1, digits)

    async def sleep_until(self, t: float) -> None:
        await self.wait_until(lambda: False, t)

    async def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        """Poll until predicate() holds (True) or the call time reaches deadline (False)."""
        while not predicate():
            if self.closed.is_set():
                raise CallEnded
            if self.now() >= deadline:
                return False
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - self.now())))
        return True

    async def wait_reply(self, after: float) -> None:
        """Wait until the agent answered (audio arrived after `after`) and then went quiet."""
        first = await self._first_after(self.loud_rx, after)
        if first is None:
            log.warning("no agent audio within %.1f s", self.reply_timeout_s)
            return
        if not await self.wait_until(self._idle, first + self.reply_timeout_s):
            log.warning("the agent was still talking %.1f s into its reply", self.reply_timeout_s)

    async def wait_into_reply(self, after: float) -> None:
        """For barge-in: wait until the agent's greeting or reply has played for a second."""
        first = await self._first_after(self.loud_played, after)
        if first is None:
            log.warning("no agent audio played within %.1f s", self.reply_timeout_s)
            return
        await self.sleep_until(first + BARGE_IN_AFTER_S)

    async def _first_after(self, times: list[float], after: float) -> float | None:
        def arrived() -> bool:
            return bisect.bisect_left(times, after) < len(times)

        if not await self.wait_until(arrived, self.now() + self.reply_timeout_s):
            return None
        return times[bisect.bisect_left(times, after)]

    def _idle(self) -> bool:
        quiet_since = max(self.last_rx, self.last_played)
        return self.playout.empty and self.now() - quiet_since >= IDLE_S


async def open_stream(url: str, signature: str) -> ClientConnection:
    try:
        return await connect(url, additional_headers={"X-Twilio-Signature": signature})
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise SimulatorError(f"server refused the media stream: HTTP {status}") from exc
    except InvalidHandshake as exc:
        raise SimulatorError(f"media stream handshake with {url} failed: {exc}") from exc
    except TimeoutError as exc:
        raise SimulatorError(f"timed out opening the media stream {url}") from exc


def _without_payload(message: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for `events`: media payloads are replaced by their size."""
    media = message.get("media")
    if not isinstance(media, dict) or "payload" not in media:
        return dict(message)
    slim = {k: v for k, v in media.items() if k != "payload"}
    slim["payload_bytes"] = len(str(media["payload"])) * 3 // 4
    return message | {"media": slim}
