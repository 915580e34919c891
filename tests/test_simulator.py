"""The call simulator plays Twilio against a scripted agent on a real local websocket.

The agent here is a tiny `websockets` server that checks what Twilio would send (signed upgrade,
`connected`, `start`, 20 ms media, mark echoes, `dtmf`, `stop`) and sends agent audio, marks and
clears the way our server does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import socket
import statistics
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import numpy as np
import pytest
import soundfile as sf
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from telephony import simulator
from telephony.audio_files import (
    AudioFileError,
    load_caller_audio,
    mulaw_decode,
    mulaw_encode,
    speech_bounds,
)
from telephony.simulator import Playout, SimulatorError, simulate_call
from voice.settings import Settings

TOKEN = "test-auth-token"
ACCOUNT = "AC" + "1" * 32
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
RATE = 8000
LOUD = 1000

Script = Callable[["FakeAgent"], Awaitable[None]]


@pytest.fixture
def settings() -> Settings:
    # A public https URL on another host: the simulator must sign what the server rebuilds.
    return Settings(
        _env_file=None,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        PUBLIC_URL="https://agent.example.com",
    )


def tone(
    seconds: float, freq: float = 440.0, amplitude: float = 0.3, rate: int = RATE
) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def caller_wav(path: Path, speech_s: float = 0.6, lead_s: float = 0.2, tail_s: float = 0.4) -> Path:
    """A 16 kHz 'utterance': silence, a tone, silence."""
    rate = 16000
    silence = np.zeros(int(lead_s * rate), dtype=np.int16)
    audio = np.concatenate(
        [silence, tone(speech_s, 300, rate=rate), np.zeros(int(tail_s * rate), np.int16)]
    )
    sf.write(path, audio, rate, subtype="PCM_16")
    return path


def is_media(message: dict) -> bool:
    return message["event"] == "media"


def media_pcm(message: dict) -> np.ndarray:
    return mulaw_decode(base64.b64decode(message["media"]["payload"]))


def is_loud_media(message: dict) -> bool:
    return is_media(message) and int(np.abs(media_pcm(message).astype(np.int32)).max()) > LOUD


def is_quiet_media(message: dict) -> bool:
    return is_media(message) and not is_loud_media(message)


def loud_frames(audio: np.ndarray) -> np.ndarray:
    """Start times (s) of the 20 ms frames of a timeline that hold sound."""
    frames = np.abs(audio[: len(audio) // 160 * 160].astype(np.int32)).reshape(-1, 160)
    return np.flatnonzero(frames.max(axis=1) > LOUD) * 0.02


class FakeAgent:
    """The server's side of the stream: checks the upgrade, records what arrives, runs a script."""

    def __init__(self, settings: Settings, script: Script | None = None) -> None:
        self.settings = settings
        self.script = script
        self.received: list[tuple[float, dict]] = []  # (monotonic arrival, message)
        self.sent_at: dict[str, float] = {}
        self.refused: list[str] = []
        self.stream_sid = ""
        self.ws: ServerConnection | None = None
        self.error: BaseException | None = None

    def check_signature(self, connection: ServerConnection, request: Request) -> Response | None:
        signature = request.headers.get("X-Twilio-Signature", "")
        if RequestValidator(TOKEN).validate(self.settings.stream_url, {}, signature):
            return None
        self.refused.append(signature)
        return connection.respond(HTTPStatus.FORBIDDEN, "bad signature\n")

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        reader = asyncio.create_task(self._read(ws))
        try:
            start = self.received[await self.wait_for(lambda m: m["event"] == "start")][1]
            self.stream_sid = start["streamSid"]
            if self.script is not None:
                await self.script(self)
            await reader  # until the simulator hangs up
        except BaseException as exc:  # surfaced by the test, not lost in the server's log
            self.error = exc
            raise
        finally:
            reader.cancel()

    async def _read(self, ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                self.received.append((time.monotonic(), json.loads(raw)))

    async def wait_for(self, predicate: Callable[[dict], bool], after: int = 0) -> int:
        """Index of the first message from `after` on that matches."""
        deadline = time.monotonic() + 15
        index = after
        while time.monotonic() < deadline:
            while index < len(self.received):
                if predicate(self.received[index][1]):
                    return index
                index += 1
            await asyncio.sleep(0.005)
        raise AssertionError("the simulator never sent the expected message")

    async def say(self, pcm: np.ndarray, mark: str | None = None) -> None:
        """Queue agent audio at once, in 20 ms media messages, as a TTS that runs ahead does."""
        assert self.ws is not None
        payload = mulaw_encode(pcm)
        for offset in range(0, len(payload), 160):
            chunk = base64.b64encode(payload[offset : offset + 160]).decode()
            media = {"event": "media", "streamSid": self.stream_sid, "media": {"payload": chunk}}
            await self.ws.send(json.dumps(media))
        if mark is not None:
            self.sent_at[mark] = time.monotonic()
            await self.ws.send(
                json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": mark}})
            )

    async def clear(self) -> None:
        assert self.ws is not None
        self.sent_at["clear"] = time.monotonic()
        await self.ws.send(json.dumps({"event": "clear", "streamSid": self.stream_sid}))

    def messages(self, event: str) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.received if m["event"] == event]


@contextlib.asynccontextmanager
async def running(agent: FakeAgent) -> AsyncIterator[str]:
    async with serve(
        agent.handler, "127.0.0.1", 0, process_request=agent.check_signature
    ) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/twilio/media"
    if agent.error is not None:
        raise agent.error


async def call(agent: FakeAgent, sources: list, **options) -> simulator.SimulationResult:
    options = {"use_webhook": False, "transcribe": False, "settings": agent.settings} | options
    async with running(agent) as url:
        return await simulate_call(sources, url=url, **options)


# -- the stream protocol ---------------------------------------------------------------------


async def test_call_follows_twilio_protocol(settings: Settings, tmp_path: Path) -> None:
    async def script(agent: FakeAgent) -> None:
        await agent.say(tone(0.5), mark="greeting")
        # Reply as soon as the caller's speech is over: loud frames, then a quiet one.
        index = await agent.wait_for(is_loud_media)
        await agent.wait_for(is_quiet_media, after=index)
        await agent.say(tone(0.3, 660), mark="reply")

    agent = FakeAgent(settings, script)
    wav = caller_wav(tmp_path / "caller.wav")
    result = await call(agent, [wav], reply_timeout_s=3)

    messages = [m for _, m in agent.received]
    assert messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = messages[1]
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["streamSid"] == start["start"]["streamSid"] == result.stream_sid
    assert result.stream_sid.startswith("MZ") and len(result.stream_sid) == 34
    assert start["start"]["callSid"] == result.call_sid
    assert result.call_sid.startswith("CA") and len(result.call_sid) == 34
    assert start["start"]["accountSid"] == ACCOUNT
    assert start["start"]["tracks"] == ["inbound"]
    assert start["start"]["customParameters"] == {}
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    # One counter for every message after `connected`.
    assert [int(m["sequenceNumber"]) for m in messages[1:]] == list(range(1, len(messages)))
    assert messages[-1] == {
        "event": "stop",
        "sequenceNumber": str(len(messages) - 1),
        "streamSid": result.stream_sid,
        "stop": {"accountSid": ACCOUNT, "callSid": result.call_sid},
    }
    assert result.close_code == 1000

    media = agent.messages("media")
    assert [m["media"]["chunk"] for _, m in media] == [str(i) for i in range(1, len(media) + 1)]
    assert [m["media"]["timestamp"] for _, m in media] == [str(i * 20) for i in range(len(media))]
    assert {m["media"]["track"] for _, m in media} == {"inbound"}
    assert {len(base64.b64decode(m["media"]["payload"])) for _, m in media} == {160}
    assert all(m["streamSid"] == result.stream_sid for _, m in media)
    # Real-time pacing against the stream clock: no drift, no bursts.
    gaps = np.diff([t for t, _ in media])
    assert 0.018 <= statistics.median(gaps) <= 0.022
    lag = [t - int(m["media"]["timestamp"]) / 1000 for t, m in media]
    assert max(lag) - min(lag) < 0.08
    assert abs(len(media) * 0.02 - result.duration_s) <= 0.04

    # A mark comes back only once the audio queued before it has played.
    echoes = agent.messages("mark")
    assert [m["mark"]["name"] for _, m in echoes] == ["greeting", "reply"]
    assert all(m["streamSid"] == result.stream_sid for _, m in echoes)
    greeting_echo = echoes[0][0] - agent.sent_at["greeting"]
    assert 0.48 <= greeting_echo <= 0.65
    reply_echo = echoes[1][0] - agent.sent_at["reply"]
    assert 0.28 <= reply_echo <= 0.45
    assert result.marks_received == result.marks_echoed == ["greeting", "reply"]

    # What the caller heard and said, on one timeline.
    assert len(result.agent_audio) == len(result.caller_audio)
    assert abs(len(loud_frames(result.agent_audio)) * 0.02 - 0.8) <= 0.06
    (turn,) = result.turns
    assert turn.source == str(wav)
    assert turn.caller_end_s == pytest.approx(turn.caller_start_s + 0.8, abs=0.03)
    heard_start, heard_end = speech_bounds(result.caller_audio)
    assert heard_start == pytest.approx(turn.caller_start_s + 0.2, abs=0.03)
    assert heard_end == pytest.approx(turn.caller_end_s, abs=0.03)
    assert turn.latency_ms is not None and 0 <= turn.latency_ms <= 300
    assert turn.agent_first_audio_s == pytest.approx(turn.caller_end_s + turn.latency_ms / 1000)
    first_reply_played = loud_frames(result.agent_audio)
    assert (
        first_reply_played[first_reply_played > turn.caller_end_s][0]
        >= turn.agent_first_audio_s - 0.02
    )

    kinds = [e["event"] for e in result.events]
    assert kinds.count("mark") == 2 and kinds.count("media") == 40
    assert all("t" in e and "payload" not in e.get("media", {}) for e in result.events)
    assert json.loads(json.dumps(result.to_json()))["turns"][0]["source"] == str(wav)


async def test_clear_empties_playout_and_echoes_pending_marks(settings: Settings) -> None:
    async def script(agent: FakeAgent) -> None:
        await agent.say(tone(1.0), mark="first")
        await agent.say(tone(2.0), mark="second")
        await asyncio.sleep(0.5)
        await agent.clear()

    agent = FakeAgent(settings, script)
    result = await call(agent, [], reply_timeout_s=3)

    echoes = agent.messages("mark")
    assert [m["mark"]["name"] for _, m in echoes] == ["first", "second"]
    assert all(0 <= t - agent.sent_at["clear"] <= 0.1 for t, _ in echoes)
    (cleared_at,) = result.clears
    assert 0.4 <= cleared_at <= 0.7
    played = loud_frames(result.agent_audio)
    assert played.max() <= cleared_at + 0.02  # nothing plays after the clear
    assert abs(len(played) * 0.02 - cleared_at) <= 0.06


async def test_dtmf_turn_sends_dtmf_events(settings: Settings) -> None:
    agent = FakeAgent(settings)
    result = await call(agent, ["dtmf:12#"], reply_timeout_s=0.3)

    dtmf = agent.messages("dtmf")
    assert [m["dtmf"] for _, m in dtmf] == [
        {"track": "inbound_track", "digit": digit} for digit in "12#"
    ]
    assert all(m["streamSid"] == result.stream_sid for _, m in dtmf)
    assert all(0.2 <= gap <= 0.32 for gap in np.diff([t for t, _ in dtmf]))
    sequence = [int(m["sequenceNumber"]) for _, m in agent.received[1:]]
    assert sequence == sorted(sequence)
    # Media keeps flowing (as silence) while the keys are pressed.
    first, last = dtmf[0][0], dtmf[-1][0]
    assert sum(first < t < last for t, _ in agent.messages("media")) >= 20
    (turn,) = result.turns
    assert turn.source == "dtmf:12#"
    assert turn.caller_end_s - turn.caller_start_s == pytest.approx(0.5, abs=0.06)
    assert turn.latency_ms is None and turn.agent_first_audio_s is None


async def test_wrong_signature_is_refused(settings: Settings) -> None:
    agent = FakeAgent(settings)
    with pytest.raises(SimulatorError, match="refused the media stream: HTTP 403"):
        await call(agent, [], signature="not-the-signature")
    assert agent.refused == ["not-the-signature"]


async def test_barge_in_speaks_while_the_agent_talks(settings: Settings, tmp_path: Path) -> None:
    async def script(agent: FakeAgent) -> None:
        await agent.say(tone(2.0), mark="greeting")
        index = 0
        for n in range(2):
            index = await agent.wait_for(is_loud_media, after=index)  # the caller cuts in
            await agent.clear()
            index = await agent.wait_for(is_quiet_media, after=index)
            await agent.say(tone(1.5, 660), mark=f"reply{n}")

    agent = FakeAgent(settings, script)
    wav = caller_wav(tmp_path / "caller.wav")
    result = await call(agent, [wav, wav], barge_in=True, reply_timeout_s=3)

    first, second = result.turns
    played = loud_frames(result.agent_audio)
    # Each turn starts 1 s after the greeting, then the reply, started playing.
    assert first.caller_start_s - played[0] == pytest.approx(1.0, abs=0.05)
    reply_started = played[played > first.caller_end_s][0]
    assert second.caller_start_s - reply_started == pytest.approx(1.0, abs=0.05)
    assert len(result.clears) == 2
    for turn, cleared_at in zip(result.turns, result.clears, strict=True):
        assert turn.caller_start_s < cleared_at < turn.caller_end_s
        assert not any(cleared_at + 0.02 < t < turn.caller_end_s for t in played)
    assert result.marks_echoed == ["greeting", "reply0", "reply1"]
    assert first.latency_ms is not None and second.latency_ms is not None
    # The last reply was heard to its end before hanging up.
    assert result.duration_s - played.max() >= 1.5


async def test_hangup_mid_wav_sends_stop(settings: Settings, tmp_path: Path) -> None:
    agent = FakeAgent(settings)
    wav = caller_wav(tmp_path / "long.wav", speech_s=2.0)
    result = await call(agent, [wav], reply_timeout_s=0.2, hangup_after_s=1.0)

    start_at = agent.messages("start")[0][0]
    (stop_at, _), *_ = agent.messages("stop")
    assert agent.received[-1][1]["event"] == "stop"
    assert 0.95 <= stop_at - start_at <= 1.15
    assert result.duration_s == pytest.approx(1.0, abs=0.05)
    (turn,) = result.turns
    assert turn.caller_end_s <= result.duration_s


async def test_server_closing_ends_call_cleanly(settings: Settings, tmp_path: Path) -> None:
    async def script(agent: FakeAgent) -> None:
        await agent.say(tone(0.3))
        await asyncio.sleep(0.5)
        assert agent.ws is not None
        await agent.ws.close(4000, "call transferred")

    agent = FakeAgent(settings, script)
    result = await call(agent, [caller_wav(tmp_path / "caller.wav")], reply_timeout_s=5)

    assert result.close_code == 4000
    assert not agent.messages("stop")
    assert result.duration_s < 1.0
    assert result.turns == []


async def test_transcribes_agent_speech(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    async def script(agent: FakeAgent) -> None:
        await agent.say(load_caller_audio(SAMPLES / "hello.wav"))

    result = await call(FakeAgent(settings, script), [], transcribe=True, reply_timeout_s=5)
    assert "order" in result.greeting_text.lower()


# -- the voice webhook -----------------------------------------------------------------------


async def test_webhook_is_signed_and_its_parameters_reach_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            '<Stream url="wss://agent.example.com/twilio/media">'
            '<Parameter name="token" value="abc"/><Parameter name="from" value="+15550001111"/>'
            "</Stream></Connect></Response>"
        )
        return httpx.Response(200, text=twiml, headers={"Content-Type": "text/xml"})

    mock_client(monkeypatch, answer)
    agent = FakeAgent(settings)
    result = await call(agent, [], use_webhook=True, reply_timeout_s=0.2)

    (request,) = posted
    assert request.method == "POST"
    assert request.url.path == "/twilio/voice" and request.url.scheme == "http"
    form = dict(parse_qsl(request.content.decode()))
    assert form == {
        "CallSid": result.call_sid,
        "AccountSid": ACCOUNT,
        "From": "+15550001111",
        "To": "+15550009999",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    signature = request.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(settings.public("/twilio/voice"), form, signature)
    start = agent.messages("start")[0][1]
    assert start["start"]["customParameters"] == {"token": "abc", "from": "+15550001111"}


async def test_webhook_error_is_reported(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_client(monkeypatch, lambda request: httpx.Response(403, text="forbidden"))
    with pytest.raises(SimulatorError, match="answered HTTP 403"):
        await simulate_call([], url="ws://127.0.0.1:9/twilio/media", settings=settings)


def mock_client(monkeypatch: pytest.MonkeyPatch, answer: Callable) -> None:
    real = httpx.AsyncClient

    def client(**kwargs: object) -> httpx.AsyncClient:
        return real(transport=httpx.MockTransport(answer), **kwargs)

    monkeypatch.setattr(simulator.webhook.httpx, "AsyncClient", client)


# -- audio files and the playout buffer ------------------------------------------------------


def test_load_caller_audio_converts_any_wav(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), rate, subtype="FLOAT")

    pcm = load_caller_audio(path)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert abs(len(pcm) - 8000) <= 2
    assert np.abs(pcm[1000:7000]).max() == pytest.approx(0.375 * 32767, rel=0.02)
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    assert np.argmax(spectrum) * RATE / len(pcm) == pytest.approx(440, abs=2)


def test_load_caller_audio_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="no such audio file"):
        load_caller_audio(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    with pytest.raises(AudioFileError, match="not a readable audio file") as info:
        load_caller_audio(text)
    assert "\n" not in str(info.value)


def test_mulaw_is_g711() -> None:
    assert mulaw_encode(np.zeros(4, np.int16)) == b"\xff" * 4
    assert mulaw_encode(np.array([32767, -32768], np.int16)) == b"\x80\x00"
    assert list(mulaw_decode(b"\xff\x7f\x80\x00")) == [0, 0, 32124, -32124]
    pcm = np.arange(-32768, 32768, 7, dtype=np.int16)
    error = np.abs(mulaw_decode(mulaw_encode(pcm)).astype(np.int32) - pcm)
    assert np.all(error <= np.maximum(16, np.abs(pcm.astype(np.int32)) // 14))
    with warnings.catch_warnings():  # audioop is deprecated, and gone from Python 3.13
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    every = np.arange(-32768, 32768, dtype=np.int16)
    assert mulaw_encode(every) == audioop.lin2ulaw(every.tobytes(), 2)


def test_playout_echoes_a_mark_only_after_its_audio_played() -> None:
    playout = Playout()
    playout.add_audio(np.full(100, 1, np.int16))
    playout.add_mark("a")
    playout.add_audio(np.full(100, 2, np.int16))
    frame, finished, played = playout.tick()
    assert played and finished == []  # "a" is reached inside this frame, which is still playing
    assert list(frame[:100]) == [1] * 100 and list(frame[100:]) == [2] * 60
    frame, finished, played = playout.tick()
    assert finished == ["a"] and list(frame[:40]) == [2] * 40 and not frame[40:].any()
    assert playout.empty
    frame, finished, played = playout.tick()
    assert not played and finished == [] and not frame.any()


# -- the command line ------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.wav"], "error: missing.wav: no such audio file"),
        (["dtmf:12x"], "error: dtmf:12x: DTMF turns take the digits 0-9, * and #"),
        (["silence:nan"], "error: silence:nan: a silent turn lasts more than 0 and at most 600"),
        (["silence:1e9"], "error: silence:1e9: a silent turn lasts more than 0 and at most 600"),
        (["silence:-3"], "error: silence:-3: a silent turn lasts more than 0 and at most 600"),
        ([str(SAMPLES / "hello.wav"), "--url", "ws://127.0.0.1:{port}/twilio/media"], "error: "),
    ],
)
def test_cli_errors_are_one_line(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(simulator.cli, "get_settings", lambda: settings)
    args = parse(
        [arg.format(port=free_port()) for arg in argv] + ["--no-transcribe", "--no-webhook"]
    )
    assert simulator.run(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message) and err.count("\n") == 1


async def test_cli_writes_transcript_and_recordings(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def script(agent: FakeAgent) -> None:
        await agent.say(tone(0.3))

    monkeypatch.setattr(simulator.cli, "get_settings", lambda: settings)
    wav = caller_wav(tmp_path / "caller.wav")
    async with running(FakeAgent(settings, script)) as url:
        argv = [
            str(wav),
            "--url",
            url,
            "--out",
            str(tmp_path / "out"),
            "--no-transcribe",
            "--no-webhook",
        ]
        code = await asyncio.to_thread(simulator.run, parse([*argv, "--reply-timeout", "0.3"]))
    assert code == 0

    out = capsys.readouterr().out
    assert f"[1] caller: {wav}" in out and "median latency" in out
    agent_audio, rate = sf.read(tmp_path / "out" / "agent.wav", dtype="int16")
    assert rate == 8000 and agent_audio.ndim == 1
    both, rate = sf.read(tmp_path / "out" / "call.wav", dtype="int16")
    assert rate == 8000 and both.shape == (len(agent_audio), 2)
    assert np.array_equal(both[:, 1], agent_audio)
    transcript = json.loads((tmp_path / "out" / "transcript.json").read_text())
    assert transcript["turns"][0]["source"] == str(wav)
    assert set(transcript) >= {"call_sid", "stream_sid", "greeting_text", "events", "close_code"}


async def test_cli_prints_what_each_caller_turn_said_down_the_line(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not only the WAV's path: the words the agent was sent, heard back with Whisper."""

    async def script(agent: FakeAgent) -> None:
        await agent.say(tone(0.3))

    monkeypatch.setattr(simulator.cli, "get_settings", lambda: settings)
    wav = SAMPLES / "order_status.wav"  # "Where is my order? The number is four five two one."
    async with running(FakeAgent(settings, script)) as url:
        argv = [str(wav), "dtmf:0", "--url", url, "--out", str(tmp_path / "out"), "--no-webhook"]
        code = await asyncio.to_thread(simulator.run, parse([*argv, "--reply-timeout", "0.3"]))
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    spoken = lines.index(f"[1] caller: {wav}")
    heard = lines[spoken + 1].strip()
    assert heard.startswith('heard: "') and "where is my order" in heard.lower()
    assert "4521" in heard or "four five two one" in heard.lower()
    keypad = lines.index("[2] caller: dtmf:0")
    assert not lines[keypad + 1].strip().startswith("heard:")  # keypad: nothing to hear
    transcript = json.loads((tmp_path / "out" / "transcript.json").read_text())
    assert transcript["turns"][0]["caller_text"] == heard.removeprefix("heard: ").strip('"')
    assert transcript["turns"][1]["caller_text"] == ""


async def test_cli_prints_what_the_real_server_heard(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against a local server whose recordings are readable here: its own transcript of each
    caller turn (the call's JSONL), which is what the agent worked from."""
    monkeypatch.setattr(simulator.cli, "get_settings", lambda: server.settings)
    wavs = [SAMPLES / "hello.wav", SAMPLES / "order_status.wav"]
    argv = [*map(str, wavs), "--url", server.media_url, "--out", str(tmp_path / "out")]
    assert await asyncio.to_thread(simulator.run, parse(argv)) == 0
    lines = capsys.readouterr().out.splitlines()
    heard = [
        lines[lines.index(f"[{i + 1}] caller: {wav}") + 1].strip() for i, wav in enumerate(wavs)
    ]
    assert all(line.startswith('agent heard: "') for line in heard), heard
    assert "my order" in heard[0].lower()  # the server may hear "calling him out my order"
    assert "4521" in heard[1] or "four five two one" in heard[1].lower()
    transcript = json.loads((tmp_path / "out" / "transcript.json").read_text())
    recorded = [
        json.loads(line)["text"]
        for path in server.recordings.rglob(f"{transcript['call_sid']}.jsonl")
        for line in path.read_text().splitlines()
        if json.loads(line)["type"] == "caller_turn"
    ]
    assert [t["agent_heard"] for t in transcript["turns"]] == recorded
