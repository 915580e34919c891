"""Placing one simulated call: load the caller's turns, answer the webhook, open the stream,
play the script (each turn after the agent's reply, or one second into it for barge-in), hang
up, and put together what happened."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed

from telephony.audio_files import SAMPLE_RATE, load_caller_audio
from telephony.simulator.protocol import MediaStream, open_stream
from telephony.simulator.results import CallEnded, SimulationResult, SimulatorError
from telephony.simulator.transcription import transcribe_audio
from telephony.simulator.webhook import answer_webhook
from voice.settings import Settings, get_settings

if TYPE_CHECKING:
    from telephony.phone_line import PhoneLine

log = logging.getLogger("telephony.simulator")

DTMF_DIGITS = frozenset("0123456789*#")
MAX_SILENCE_S = 600.0  # a `silence:SECONDS` turn: a caller who says nothing, at most this long
DEFAULT_URL = "ws://127.0.0.1:8080/twilio/media"
CALLER_TAIL_S = 0.3  # a turn ends where its WAV's speech ends: keep the fading last sound


@dataclass(frozen=True)
class _Source:
    """A caller turn, loaded and checked before the call starts."""

    label: str
    audio: np.ndarray | None = None
    digits: str = ""


async def simulate_call(
    turn_sources: Sequence[str | Path],
    *,
    url: str = DEFAULT_URL,
    caller: str = "+15550001111",
    barge_in: bool = False,
    transcribe: bool = True,
    transcribe_caller: bool = False,
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
    `transcribe_caller`: also transcribe each spoken caller turn as it went down the line.
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
    ws = await open_stream(url, signature)
    stream = MediaStream(
        ws,
        call_sid=call_sid,
        stream_sid=f"MZ{secrets.token_hex(16)}",
        account_sid=settings.twilio_account_sid,
        reply_timeout_s=reply_timeout_s,
        line=line,
    )
    await _run_call(stream, sources, parameters, barge_in=barge_in, hangup_after_s=hangup_after_s)
    result = await _build_result(stream, caller, transcribe=transcribe)
    if transcribe_caller:
        await _transcribe_caller(result)
    return result


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
        elif label.startswith("silence:"):
            sources.append(_Source(label, audio=_silence(label)))
        else:
            sources.append(_Source(label, audio=load_caller_audio(item)))
    return sources


def _silence(label: str) -> np.ndarray:
    """`silence:SECONDS`: the caller stays on the line and says nothing for that long."""
    try:
        seconds = float(label.removeprefix("silence:"))
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_SILENCE_S:  # also refuses nan and inf
        raise SimulatorError(
            f"{label}: a silent turn lasts more than 0 and at most {MAX_SILENCE_S:g} seconds"
        )
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.int16)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise SimulatorError(f"{url}: the media stream URL must start with ws:// or wss://")


async def _run_call(
    stream: MediaStream,
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
    stream: MediaStream, sources: list[_Source], barge_in: bool, hangup_after_s: float | None
) -> None:
    script = _converse(stream, sources, barge_in)
    try:
        if hangup_after_s is None:
            await script
        else:
            await asyncio.wait_for(script, timeout=max(0.0, hangup_after_s - stream.now()))
    except TimeoutError:
        log.info("caller hangs up at %.2f s", stream.now())
    except CallEnded:
        log.info("the server closed the stream at %.2f s", stream.now())


async def _converse(stream: MediaStream, sources: list[_Source], barge_in: bool) -> None:
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


async def _build_result(stream: MediaStream, caller: str, *, transcribe: bool) -> SimulationResult:
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


async def _transcribe_caller(result: SimulationResult) -> None:
    """Each spoken turn's audio as sent (with the line's noise and echo), heard back."""
    for turn in result.turns:
        if turn.source.startswith("dtmf:") or turn.caller_end_s <= turn.caller_start_s:
            continue
        span = _span(result.caller_audio, turn.caller_start_s, turn.caller_end_s + CALLER_TAIL_S)
        turn.caller_text = await asyncio.to_thread(transcribe_audio, span)


def _concat(frames: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)


def _first_in(times: list[float], lo: float, hi: float) -> float | None:
    i = bisect.bisect_left(times, lo)
    return times[i] if i < len(times) and times[i] < hi else None


def _span(audio: np.ndarray, lo: float, hi: float) -> np.ndarray:
    end = len(audio) if math.isinf(hi) else int(hi * SAMPLE_RATE)
    return audio[int(lo * SAMPLE_RATE) : end]
