"""Play Twilio's side of a bidirectional Media Stream against our server, from WAV files.

Developers rehearse calls with it (`callcentre simulate TURN.wav ...`) and tests drive the real
server over a real websocket. It behaves like Twilio does (see shared/TWILIO.md):

* it answers the call through the signed voice webhook and takes the `<Stream>` Parameters;
* it opens the signed websocket, sends `connected` and `start`, then one 20 ms `media` frame of
  caller audio (or mu-law silence) every 20 ms, paced on a monotonic clock for the whole call;
* it plays the agent's audio out of a FIFO buffer at the same 20 ms rate, echoes each `mark` when
  the audio queued before it has played, and on `clear` drops the buffer and echoes pending marks.

All times are seconds on the call timeline, which starts when `start` is sent; tick k covers
[k * 20 ms, (k + 1) * 20 ms) of both the caller's and the agent's audio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import bisect
import functools
import itertools
import json
import logging
import math
import os
import secrets
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import soundfile as sf
import soxr
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from telephony.audio_files import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioFileError,
    load_caller_audio,
    mulaw_decode,
    mulaw_encode,
    speech_bounds,
)
from voice.settings import Settings, get_settings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from telephony.phone_line import PhoneLine

log = logging.getLogger(__name__)

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
IDLE_S = 1.5  # the agent has finished a reply when nothing more arrived or played for this long
DTMF_GAP_S = 0.25
BARGE_IN_AFTER_S = 1.0
POLL_S = 0.01
LOUD_PEAK = 256  # agent audio quieter than this (about -42 dBFS) counts as silence
DTMF_DIGITS = frozenset("0123456789*#")
TO_NUMBER = "+15550009999"
DEFAULT_URL = "ws://127.0.0.1:8080/twilio/media"
SILENT_FRAME = np.zeros(FRAME_SAMPLES, dtype=np.int16)


class SimulatorError(Exception):
    """The server did not behave like Twilio expects; the message is one line for the terminal."""


class _CallEnded(Exception):
    """The server closed the websocket while the caller still had something to do."""


@dataclass
class SimulatedTurn:
    """One caller turn and the agent's answer to it."""

    index: int
    source: str
    caller_start_s: float
    caller_end_s: float
    agent_first_audio_s: float | None = None
    latency_ms: float | None = None
    agent_text: str = ""


@dataclass
class SimulationResult:
    call_sid: str
    stream_sid: str
    caller: str
    greeting_text: str
    turns: list[SimulatedTurn]
    agent_audio: np.ndarray
    caller_audio: np.ndarray
    clears: list[float]
    marks_received: list[str]
    marks_echoed: list[str]
    events: list[dict]
    close_code: int | None

    @property
    def duration_s(self) -> float:
        return len(self.caller_audio) / SAMPLE_RATE

    @property
    def median_latency_ms(self) -> float | None:
        latencies = [t.latency_ms for t in self.turns if t.latency_ms is not None]
        return statistics.median(latencies) if latencies else None

    def to_json(self) -> dict:
        return {
            "call_sid": self.call_sid,
            "stream_sid": self.stream_sid,
            "caller": self.caller,
            "duration_s": round(self.duration_s, 3),
            "greeting_text": self.greeting_text,
            "turns": [asdict(turn) for turn in self.turns],
            "median_latency_ms": self.median_latency_ms,
            "clears": self.clears,
            "marks_received": self.marks_received,
            "marks_echoed": self.marks_echoed,
            "close_code": self.close_code,
            "events": self.events,
        }


@dataclass(frozen=True)
class _Source:
    """A caller turn, loaded and checked before the call starts."""

    label: str
    audio: np.ndarray | None = None
    digits: str = ""


class Playout:
    """Twilio's outbound buffer: agent audio and marks in arrival order, played 20 ms a tick."""

    def __init__(self) -> None:
        self._queue: deque[np.ndarray | str] = deque()
        # Marks reached in the middle of the frame now playing: echoed once it has played.
        self._due: list[str] = []

    @property
    def empty(self) -> bool:
        """True when no agent audio is waiting to be played."""
        return not any(isinstance(item, np.ndarray) for item in self._queue)

    def add_audio(self, pcm: np.ndarray) -> None:
        if pcm.size:
            self._queue.append(pcm)

    def add_mark(self, name: str) -> None:
        self._queue.append(name)

    def clear(self) -> list[str]:
        """Drop all queued audio; returns every pending mark, to be echoed at once."""
        marks = self._due + [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        self._due = []
        return marks

    def tick(self) -> tuple[np.ndarray, list[str], bool]:
        """Start playing the next 20 ms.

        Returns the frame, the marks whose audio has now finished playing, and whether the
        frame holds any queued audio at all.
        """
        finished, self._due = self._due, []
        while self._queue and isinstance(self._queue[0], str):
            finished.append(self._queue.popleft())  # nothing before it is left to play
        frame = SILENT_FRAME.copy()
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            head = self._queue.popleft()
            if isinstance(head, str):
                self._due.append(head)
                continue
            take = min(FRAME_SAMPLES - filled, head.size)
            frame[filled : filled + take] = head[:take]
            filled += take
            if take < head.size:
                self._queue.appendleft(head[take:])
        return frame, finished, filled > 0


class _Stream:
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
        self.events: list[dict] = []
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

    async def _dispatch(self, event: str, message: dict, t: float) -> None:
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
                raise _CallEnded
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


async def simulate_call(
    turn_sources: Sequence[str | Path],
    *,
    url: str = DEFAULT_URL,
    caller: str = "+15550001111",
    barge_in: bool = False,
    transcribe: bool = True,
    settings: Settings | None = None,
    use_webhook: bool = True,
    signature: str | None = None,
    call_sid: str | None = None,
    reply_timeout_s: float = 30.0,
    hangup_after_s: float | None = None,
    line: PhoneLine | None = None,
) -> SimulationResult:
    """Place one simulated call against the server at `url` and return what happened.

    Each source is a WAV path or `dtmf:DIGITS`. All of them are loaded (and checked) before
    anything connects. `reply_timeout_s` bounds how long the agent may take to start a reply
    and how long one reply may last; `hangup_after_s` hangs up that many seconds into the call.
    `line` adds noise and the agent's own echo to what the caller's phone sends.
    """
    sources = load_sources(turn_sources)
    settings = settings or get_settings()
    _check_url(url)
    call_sid = call_sid or f"CA{secrets.token_hex(16)}"
    parameters: dict[str, str] = {}
    if use_webhook:
        parameters = await answer_webhook(url, settings, call_sid=call_sid, caller=caller)
    if signature is None:
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(
            settings.stream_url, {}
        )
    ws = await _open_stream(url, signature)
    stream = _Stream(
        ws,
        call_sid=call_sid,
        stream_sid=f"MZ{secrets.token_hex(16)}",
        account_sid=settings.twilio_account_sid,
        reply_timeout_s=reply_timeout_s,
        line=line,
    )
    await _run_call(stream, sources, parameters, barge_in=barge_in, hangup_after_s=hangup_after_s)
    return await _build_result(stream, caller, transcribe=transcribe)


def load_sources(turn_sources: Sequence[str | Path]) -> list[_Source]:
    """Load every turn up front, so a bad file fails before the call is placed."""
    sources = []
    for item in turn_sources:
        label = str(item)
        if label.startswith("dtmf:"):
            digits = label.removeprefix("dtmf:")
            if not digits or not set(digits) <= DTMF_DIGITS:
                raise SimulatorError(f"{label}: DTMF turns take the digits 0-9, * and #")
            sources.append(_Source(label, digits=digits))
        else:
            sources.append(_Source(label, audio=load_caller_audio(item)))
    return sources


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise SimulatorError(f"{url}: the media stream URL must start with ws:// or wss://")


def webhook_url(stream_url: str) -> str:
    """The voice webhook on the same server as the media stream (ws -> http, wss -> https)."""
    parts = urlsplit(stream_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/twilio/voice", "", ""))


async def answer_webhook(
    url: str, settings: Settings, *, call_sid: str, caller: str
) -> dict[str, str]:
    """POST the signed voice webhook as Twilio does; returns the `<Stream>` Parameters."""
    target = webhook_url(url)
    params = {
        "CallSid": call_sid,
        "AccountSid": settings.twilio_account_sid,
        "From": caller,
        "To": TO_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    # Signed over the public URL, which is what the server rebuilds behind a proxy.
    validator = RequestValidator(settings.twilio_auth_token)
    headers = {
        "X-Twilio-Signature": validator.compute_signature(settings.public("/twilio/voice"), params)
    }
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(target, data=params, headers=headers)
    except httpx.HTTPError as exc:
        raise SimulatorError(f"cannot reach the voice webhook {target}: {exc}") from exc
    if response.status_code != 200:
        raise SimulatorError(f"the voice webhook {target} answered HTTP {response.status_code}")
    return stream_parameters(response.text)


def stream_parameters(twiml: str) -> dict[str, str]:
    """The `<Parameter>`s of `<Response><Connect><Stream>`, which Twilio passes on in `start`."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise SimulatorError(f"the voice webhook did not answer TwiML: {exc}") from exc
    stream = root.find("./Connect/Stream")
    if root.tag != "Response" or stream is None:
        raise SimulatorError("the voice webhook's TwiML has no <Connect><Stream>")
    log.info("TwiML streams to %s", stream.get("url"))
    return {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}


async def _open_stream(url: str, signature: str) -> ClientConnection:
    try:
        return await connect(url, additional_headers={"X-Twilio-Signature": signature})
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise SimulatorError(f"server refused the media stream: HTTP {status}") from exc
    except InvalidHandshake as exc:
        raise SimulatorError(f"media stream handshake with {url} failed: {exc}") from exc
    except TimeoutError as exc:
        raise SimulatorError(f"timed out opening the media stream {url}") from exc


async def _run_call(
    stream: _Stream,
    sources: list[_Source],
    parameters: dict[str, str],
    *,
    barge_in: bool,
    hangup_after_s: float | None,
) -> None:
    receiver = asyncio.create_task(stream.receive())
    clock: asyncio.Task[None] | None = None
    try:
        await stream.send_start(parameters)
        clock = asyncio.create_task(stream.run_clock())
        await _converse_until_hangup(stream, sources, barge_in, hangup_after_s)
        stream.stop_clock()
        await clock  # media stops before `stop`, as with Twilio
        if not stream.closed.is_set():
            await stream.send_stop()
    except ConnectionClosed:
        log.info("the server closed the stream")
    finally:
        stream.stop_clock()
        await stream.ws.close()
        await receiver
        if clock is not None:
            await clock


async def _converse_until_hangup(
    stream: _Stream, sources: list[_Source], barge_in: bool, hangup_after_s: float | None
) -> None:
    script = _converse(stream, sources, barge_in)
    try:
        if hangup_after_s is None:
            await script
        else:
            await asyncio.wait_for(script, timeout=max(0.0, hangup_after_s - stream.now()))
    except TimeoutError:
        log.info("caller hangs up at %.2f s", stream.now())
    except _CallEnded:
        log.info("the server closed the stream at %.2f s", stream.now())


async def _converse(stream: _Stream, sources: list[_Source], barge_in: bool) -> None:
    """Each turn waits for the agent's greeting or last reply: to its end, or with barge-in,
    only one second into it. The answer to the last turn is always heard to the end."""
    after = 0.0  # the greeting is what the agent says first
    for index, source in enumerate(sources):
        if barge_in:
            await stream.wait_into_reply(after)
        else:
            await stream.wait_reply(after)
        if source.audio is not None:
            await stream.speak(index, source.label, source.audio)
        else:
            await stream.press(index, source.label, source.digits)
        after = stream.turns[-1].caller_end_s
    await stream.wait_reply(after)


async def _build_result(stream: _Stream, caller: str, *, transcribe: bool) -> SimulationResult:
    agent = _concat(stream.agent_frames)
    caller_audio = _concat(stream.caller_frames)
    end = len(agent) / SAMPLE_RATE
    turns = stream.turns
    for turn in turns:
        turn.caller_end_s = min(turn.caller_end_s, end)  # a hang-up cut the turn short
    # Agent audio belongs to the last caller turn that ended before it.
    bounds = [0.0] + [t.caller_end_s for t in turns] + [math.inf]
    for turn, (lo, hi) in zip(turns, itertools.pairwise(bounds[1:]), strict=True):
        first = _first_in(stream.loud_rx, lo, hi)
        turn.agent_first_audio_s = first
        turn.latency_ms = None if first is None else round((first - lo) * 1000, 1)
    texts = [""] * (len(turns) + 1)
    if transcribe:
        spans = [_span(agent, lo, hi) for lo, hi in itertools.pairwise(bounds)]
        texts = [await asyncio.to_thread(transcribe_audio, span) for span in spans]
    for turn, text in zip(turns, texts[1:], strict=True):
        turn.agent_text = text
    return SimulationResult(
        call_sid=stream.call_sid,
        stream_sid=stream.stream_sid,
        caller=caller,
        greeting_text=texts[0],
        turns=turns,
        agent_audio=agent,
        caller_audio=caller_audio,
        clears=stream.clears,
        marks_received=stream.marks_received,
        marks_echoed=stream.marks_echoed,
        events=stream.events,
        close_code=stream.ws.close_code,
    )


def _concat(frames: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)


def _first_in(times: list[float], lo: float, hi: float) -> float | None:
    i = bisect.bisect_left(times, lo)
    return times[i] if i < len(times) and times[i] < hi else None


def _span(audio: np.ndarray, lo: float, hi: float) -> np.ndarray:
    end = len(audio) if math.isinf(hi) else int(hi * SAMPLE_RATE)
    return audio[int(lo * SAMPLE_RATE) : end]


def _without_payload(message: dict) -> dict:
    """A copy fit for `events`: media payloads are replaced by their size."""
    media = message.get("media")
    if not isinstance(media, dict) or "payload" not in media:
        return dict(message)
    slim = {k: v for k, v in media.items() if k != "payload"}
    slim["payload_bytes"] = len(str(media["payload"])) * 3 // 4
    return message | {"media": slim}


# -- transcription -------------------------------------------------------------------------------


@functools.cache
def _whisper_model() -> WhisperModel:
    """The packaged Whisper base model, loaded once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # it is a local folder: never reach the hub
    # Imported here: faster-whisper is slow to import and only needed when transcribing.
    from faster_whisper import WhisperModel

    from voice.engines.models import whisper_base_dir

    return WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8")


def transcribe_audio(pcm: np.ndarray) -> str:
    """Transcribe 8 kHz int16 agent audio (blocking: run it in a thread)."""
    start, end = speech_bounds(pcm)
    if end <= start:
        return ""  # Whisper invents words for silence
    lo, hi = max(0, int((start - 0.2) * SAMPLE_RATE)), int((end + 0.2) * SAMPLE_RATE)
    clip = pcm[lo:hi].astype(np.float32) / 32768.0
    audio = soxr.resample(clip, SAMPLE_RATE, 16000).astype(np.float32)
    segments, _ = _whisper_model().transcribe(audio, language="en", beam_size=5)
    return " ".join(segment.text.strip() for segment in segments).strip()


# -- command line --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("turns", nargs="+", metavar="TURN", help="caller WAV file, or dtmf:DIGITS")
    parser.add_argument("--url", default=DEFAULT_URL, help="media stream URL (%(default)s)")
    parser.add_argument("--from", dest="caller", default="+15550001111", help="caller number")
    parser.add_argument("--out", type=Path, default=Path("sim-out"), help="output folder")
    parser.add_argument(
        "--barge-in", action="store_true", help="speak 1 s into each greeting or reply"
    )
    parser.add_argument("--no-transcribe", action="store_true", help="skip Whisper transcripts")
    parser.add_argument(
        "--no-webhook",
        action="store_true",
        help="open the stream without the voice webhook (our server refuses such a stream: "
        "its one-use token comes from the webhook's TwiML)",
    )
    parser.add_argument("--reply-timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--hangup-after", type=float, default=None, help="hang up after SECONDS")


def run(args: argparse.Namespace) -> int:
    """`callcentre simulate`: place the call, print the transcript, write the recordings."""
    try:
        result = asyncio.run(
            simulate_call(
                args.turns,
                url=args.url,
                caller=args.caller,
                barge_in=args.barge_in,
                transcribe=not args.no_transcribe,
                use_webhook=not args.no_webhook,
                reply_timeout_s=args.reply_timeout,
                hangup_after_s=args.hangup_after,
                settings=settings_for(args.url),
            )
        )
    except (AudioFileError, SimulatorError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # refused or unreachable
        return _fail(f"cannot connect to {args.url}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    _print_transcript(result)
    try:
        written = write_outputs(result, Path(args.out))
    except OSError as exc:
        return _fail(f"cannot write to {args.out}: {exc.strerror or exc}")
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def settings_for(url: str) -> Settings:
    """Settings as the server sees them; a local server without PUBLIC_URL is its own URL."""
    settings = get_settings()
    if "public_url" in settings.model_fields_set:
        return settings
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return settings.model_copy(update={"public_url": f"{scheme}://{parts.netloc}"})


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _print_transcript(result: SimulationResult) -> None:
    print(f"call {result.call_sid} from {result.caller}, {result.duration_s:.1f} s")
    print(f'agent: "{result.greeting_text}"')
    for turn in result.turns:
        latency = "no reply" if turn.latency_ms is None else f"{turn.latency_ms:.0f} ms"
        print(f"[{turn.index + 1}] caller: {turn.source}")
        print(f'    agent ({latency}): "{turn.agent_text}"')
    median = result.median_latency_ms
    replies = sum(turn.latency_ms is not None for turn in result.turns)
    summary = "n/a" if median is None else f"{median:.0f} ms"
    print(f"median latency: {summary} ({replies} of {len(result.turns)} turns answered)")


def write_outputs(result: SimulationResult, out: Path) -> list[Path]:
    """agent.wav (as played), call.wav (caller left, agent right) and transcript.json."""
    out.mkdir(parents=True, exist_ok=True)
    length = min(len(result.agent_audio), len(result.caller_audio))
    stereo = np.stack([result.caller_audio[:length], result.agent_audio[:length]], axis=1)
    paths = [out / "agent.wav", out / "call.wav", out / "transcript.json"]
    sf.write(paths[0], result.agent_audio, SAMPLE_RATE, subtype="PCM_16")
    sf.write(paths[1], stereo, SAMPLE_RATE, subtype="PCM_16")
    paths[2].write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return paths


__all__ = [
    "AudioFileError",
    "Playout",
    "SimulatedTurn",
    "SimulationResult",
    "SimulatorError",
    "add_arguments",
    "run",
    "simulate_call",
    "transcribe_audio",
]
