"""Abuse: a real `callcentre serve` under fuzzed, forged, replayed, oversized and hostile input
while a well-behaved call goes on beside it.

Every case must end in a clear refusal (an HTTP status, or a websocket close code with a reason)
or be ignored with a log line; the server must stay healthy, no request may fail with an
unhandled exception, no file may be written outside RECORDINGS_DIR, and the bystander's calls
must all be answered. The counts of cases tried and survived are printed at the end;
`docs/reliability.md` records a run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from telephony.local_server import LocalServer
from telephony.signatures import sign
from telephony.simulator import simulate_call, stream_parameters
from telephony.stream_tokens import mint

pytestmark = pytest.mark.timeout(600)

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
SILENCE = base64.b64encode(b"\xff" * 160).decode()
WS_MAX = 1 << 20  # `callcentre serve` passes ws_max_size=1 MiB to uvicorn
BODY_LIMIT = 64 * 1024
WEBHOOKS = (
    "/twilio/voice",
    "/twilio/status",
    "/twilio/whisper?id=abc",
    "/twilio/dial-status?id=abc",
)
# Refusals a client may see: normal close, policy violation (bad/duplicate start), too big.
CLEAN_CLOSES = {1000, 1008, 1009}
# Log lines that mean something crashed rather than refused.
CRASH_MARKERS = ("Exception in ASGI application", '"event": "call failed"', "Traceback")


def fuzz_settings(examples: int):
    """Few, slow examples (each one is real network traffic to a real server); in CI the
    same examples every run, so a red build is reproducible."""
    return hsettings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# --- counting ---------------------------------------------------------------------------------


@dataclass
class Tally:
    tried: Counter = field(default_factory=Counter)
    survived: Counter = field(default_factory=Counter)

    @contextmanager
    def case(self, kind: str) -> Iterator[None]:
        self.tried[kind] += 1
        yield
        self.survived[kind] += 1

    def table(self) -> str:
        rows = ["| abuse | cases tried | survived |", "| --- | ---: | ---: |"]
        rows += [f"| {kind} | {self.tried[kind]} | {self.survived[kind]} |" for kind in self.tried]
        rows.append(f"| **total** | {sum(self.tried.values())} | {sum(self.survived.values())} |")
        return "\n".join(rows)


TALLY = Tally()


# --- the server and the bystander -------------------------------------------------------------


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    # Capacity is not what these tests try (test_capacity.py does): room for the bystander and
    # the fuzzed calls whose teardown is still running when the next example starts (with
    # MAX_CALLS=3 a loaded CI box answered one of them "all our agents are busy").
    with LocalServer(
        tmp_path_factory.mktemp("abuse") / "server", extra_env={"MAX_CALLS": "12"}
    ) as running:
        yield running


class Bystander:
    """Well-behaved calls, back to back, in a thread with its own event loop."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.answered: list[float] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                result = asyncio.run(
                    simulate_call(
                        [SAMPLES / "hello.wav"],
                        url=self.server.media_url,
                        settings=self.server.settings,
                        transcribe=False,
                    )
                )
            except Exception as exc:  # reported by the last test
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies = [t.latency_ms for t in result.turns]
            if all(latency is not None for latency in latencies):
                self.answered.append(max(latencies))
            else:
                self.failures.append(f"unanswered turn: {latencies}")

    def finish(self, timeout: float = 90) -> None:
        self.stop.set()
        self.thread.join(timeout)


@pytest.fixture(scope="module", autouse=True)
def bystander(target: LocalServer) -> Iterator[Bystander]:
    calls = Bystander(target)
    calls.thread.start()
    yield calls
    calls.finish()


def healthy(server: LocalServer) -> None:
    assert server.process.poll() is None, "the server died"
    assert httpx.get(f"{server.http}/healthz", timeout=10).status_code == 200


def stray_files(server: LocalServer) -> list[Path]:
    """Anything written next to the server's own folders: what a path in a CallSid would do."""
    allowed = {"recordings", "server.log", ".env", "secret.wav"}
    return [
        p
        for p in server.workdir.parent.rglob("*")
        if p.relative_to(server.workdir.parent).parts[0] != "server"
    ] + [p for p in server.workdir.iterdir() if p.name not in allowed]


# --- the media websocket ----------------------------------------------------------------------


def granted(server: LocalServer, call_sid: str, caller: str = "+15550002222") -> dict[str, str]:
    """What Twilio gets from our signed voice webhook for this call: the `<Stream>`
    `<Parameter>`s (CallSid and the one-use stream token) that it passes back in `start`."""
    form = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": caller,
        "To": "+15550009999",
        "CallStatus": "ringing",
    }
    signature = sign(server.settings, server.settings.public("/twilio/voice"), form)
    answer = httpx.post(
        f"{server.http}/twilio/voice",
        data=form,
        headers={"X-Twilio-Signature": signature},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return stream_parameters(answer.text)


def granted_start(server: LocalServer, call_sid: str, **extra: object) -> str:
    """A `start` as Twilio sends it after our webhook answered this call."""
    return start_message(call_sid, customParameters=granted(server, call_sid), **extra)


def start_message(call_sid: str, stream_sid: str | None = None, **extra: object) -> str:
    stream_sid = stream_sid or f"MZ{secrets.token_hex(16)}"
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "streamSid": stream_sid,
                "accountSid": "AC" + "1" * 32,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": {"caller": "+15550002222"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                **extra,
            },
        }
    )


def media_message(n: int, payload: str = SILENCE) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(n + 2),
            "media": {
                "track": "inbound",
                "chunk": str(n + 1),
                "timestamp": str(n * 20),
                "payload": payload,
            },
        }
    )


def open_stream(server: LocalServer, signature: str | None = None) -> ClientConnection:
    signature = (
        sign(server.settings, server.settings.stream_url) if signature is None else signature
    )
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return connect(
        server.media_url,
        additional_headers=headers,
        open_timeout=20,
        max_size=None,
        close_timeout=5,
    )


def drain(ws: ClientConnection, seconds: float) -> None:
    """Read whatever the server sends (agent audio, marks) for a while, or until it closes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            return
        except ConnectionClosed:
            return


def send_all(ws: ClientConnection, frames: list[str | bytes]) -> None:
    for frame in frames:
        try:
            ws.send(frame)
        except ConnectionClosed:
            return  # the server refused and closed: its close code is checked by the caller


def clean_closes(sent: list[str | bytes]) -> set[int]:
    """Close codes that count as a clean refusal. A frame over uvicorn's limit makes the
    server drop the message (1009), and the client, still writing megabytes, may lose that
    close frame and see 1006; the server itself is checked healthy after every case."""
    return CLEAN_CLOSES | ({1006} if any(len(f) > WS_MAX for f in sent) else set())


def finish(ws: ClientConnection) -> tuple[int | None, str]:
    drain(ws, 0.2)
    ws.close()
    return ws.close_code, ws.close_reason or ""


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
EVENTS = ["connected", "start", "media", "mark", "dtmf", "stop", "clear", "", "MEDIA", None, 7]
twilio_like = st.fixed_dictionaries(
    {"event": st.sampled_from(EVENTS)},
    optional={
        "streamSid": json_values,
        "sequenceNumber": json_values,
        "media": json_values,
        "mark": json_values,
        "dtmf": json_values,
        "start": json_values,
        "stop": json_values,
    },
).map(json.dumps)
wrong_types = st.sampled_from(
    [
        {"event": "media", "media": {"payload": 12345}},
        {"event": "media", "media": "x"},
        {"event": "media", "media": {"payload": "%%%not base64%%%"}},
        {"event": "media", "media": {"payload": SILENCE, "timestamp": {"a": 1}}},
        {"event": "media", "media": {"payload": SILENCE, "timestamp": "-1e308"}},
        {"event": "media", "media": {"payload": ""}},
        {"event": "media", "media": []},
        {"event": "mark", "mark": {"name": ["x"]}},
        {"event": "mark", "mark": "x"},
        {"event": "dtmf", "dtmf": {"digit": 5}},
        {"event": "dtmf", "dtmf": {"digit": "not a digit"}},
        {"event": "dtmf"},
        {"event": "stop", "stop": "x"},
        {"event": ["media"]},
        {"event": {}},
        {"event": "start", "start": []},
        {"event": "start", "start": {"callSid": 5}},
        {"event": "start", "start": {"callSid": None, "streamSid": "MZ1"}},
    ]
).map(json.dumps)
huge = st.sampled_from([70_000, 300_000, WS_MAX + 1024]).flatmap(
    lambda n: st.sampled_from(
        [
            media_message(0, "A" * n),
            "x" * n,
            json.dumps({"event": "mark", "mark": {"name": "m" * n}}),
            b"\x00" * n,
        ]
    )
)
frames = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    json_values.map(json.dumps),
    twilio_like,
    wrong_types,
    huge,
)


@given(sent=st.lists(frames, min_size=1, max_size=6))
@fuzz_settings(100)
def test_fuzzed_frames_before_start(target: LocalServer, sent: list[str | bytes]):
    """Garbage, wrong types and huge frames where Twilio would send `connected` and `start`."""
    with TALLY.case("websocket: fuzzed frames before `start`"):
        with open_stream(target) as ws:
            send_all(ws, sent)
            code, reason = finish(ws)
        assert code in clean_closes(sent), (code, reason)
        assert code != 1008 or reason  # a refusal says why
        healthy(target)


@given(
    sent=st.lists(frames, min_size=1, max_size=8),
    flood=st.one_of(st.just(0), st.integers(200, 3000)),
    stop=st.booleans(),
)
@fuzz_settings(40)
def test_fuzzed_frames_during_a_call(
    target: LocalServer, sent: list[str | bytes], flood: int, stop: bool
):
    """A call that has started, then garbage, floods of media (far faster than real time),
    messages out of order (a second `start`, `connected` again, media after `stop`)."""
    with TALLY.case("websocket: fuzzed frames during a call"):
        with open_stream(target) as ws:
            send_all(
                ws,
                [
                    json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
                    granted_start(target, f"CA{secrets.token_hex(16)}"),
                ],
            )
            send_all(ws, [media_message(i) for i in range(flood)])
            send_all(ws, sent)
            if stop:
                send_all(
                    ws,
                    [
                        json.dumps({"event": "stop", "stop": {}}),
                        media_message(0),
                        start_message(f"CA{secrets.token_hex(16)}"),
                    ],
                )
            code, reason = finish(ws)
        assert code in clean_closes(sent) - {1008}, (code, reason)
        healthy(target)


EVENT_ORDERS = [
    ["media", "start"],
    ["stop", "start"],
    ["mark", "dtmf", "start"],
    ["start", "start"],
    ["start", "connected", "start"],
    ["start", "stop", "media", "stop"],
    ["start", "stop", "start"],
    ["connected"] * 50 + ["start"],
]


@pytest.mark.parametrize("order", EVENT_ORDERS, ids=lambda o: "-".join(o[:5]))
def test_events_in_the_wrong_order(target: LocalServer, order: list[str]):
    with TALLY.case("websocket: events in the wrong order"):
        call_sid = f"CA{secrets.token_hex(16)}"
        messages = {
            "media": media_message(0),
            "stop": json.dumps({"event": "stop"}),
            "mark": json.dumps({"event": "mark", "mark": {"name": "m"}}),
            "dtmf": json.dumps({"event": "dtmf", "dtmf": {"digit": "1"}}),
            "connected": json.dumps({"event": "connected"}),
            "start": granted_start(target, call_sid),
        }
        with open_stream(target) as ws:
            send_all(ws, [messages[name] for name in order])
            code, reason = finish(ws)
        assert code in CLEAN_CLOSES - {1008}, (code, reason)
        healthy(target)


@pytest.mark.parametrize(
    "call_sid",
    [
        "../../../escaped",
        "..",
        "/tmp/abuse-escaped",
        "CA" + "x" * 500,
        "CA\u0000nul",
        "CA/../../x",
        "CA\\..\\..\\x",
    ],
)
def test_ids_that_would_name_files_outside_recordings_are_refused(
    target: LocalServer, call_sid: str
):
    """The CallSid names the call's files: a path or an absurd length is refused with 1008."""
    with TALLY.case("websocket: path or oversized CallSid in `start`"):
        with open_stream(target) as ws:
            send_all(ws, [start_message(call_sid)])
            code, reason = finish(ws)
        assert (code, reason) == (1008, "expected a valid start message")
        assert stray_files(target) == [] and not Path("/tmp/abuse-escaped.wav").exists()
        healthy(target)


@pytest.mark.parametrize(
    "params",
    [[1, 2], "caller", {"caller": "+1" * 200}, {"caller": None}, {"caller": {"nested": True}}],
)
def test_odd_custom_parameters_do_not_break_the_call(target: LocalServer, params: object):
    """Odd values beside the token are ignored (the caller's number is the webhook's, never the
    stream's); parameters that cannot carry the token are refused, saying why."""
    with TALLY.case("websocket: odd `customParameters`"):
        call_sid = f"CA{secrets.token_hex(16)}"
        grant = granted(target, call_sid)
        sent = {**params, **grant} if isinstance(params, dict) else params
        with open_stream(target) as ws:
            send_all(
                ws,
                [
                    start_message(call_sid, customParameters=sent),
                    *[media_message(i) for i in range(20)],
                ],
            )
            drain(ws, 1.0)
            code, reason = finish(ws)
        if isinstance(params, dict):
            assert code in CLEAN_CLOSES - {1008}, (code, reason)
            assert f'"call_sid": "{call_sid}"' in target.log()  # the call really started
        else:
            assert (code, reason) == (1008, "stream token missing")
        healthy(target)


def test_a_second_stream_for_a_live_call_is_refused(target: LocalServer):
    """Replay: the upgrade's signature covers only the URL, so a captured stream can be sent
    again. A `start` for a CallSid that is streaming now is refused."""
    with TALLY.case("replay: second stream for a live call"):
        call_sid = f"CA{secrets.token_hex(16)}"
        start = granted_start(target, call_sid)
        with open_stream(target) as first, open_stream(target) as second:
            send_all(first, [start, *[media_message(i) for i in range(10)]])
            drain(first, 1.0)
            send_all(second, [start])
            drain(second, 2.0)
            assert (second.close_code, second.close_reason) == (
                1008,
                "this call already has a stream",
            )
            send_all(first, [media_message(10)])  # the live one goes on
            drain(first, 0.3)
            assert first.close_code is None
            assert finish(first)[0] == 1000
        healthy(target)


def test_a_replayed_stream_for_a_finished_call_is_refused(target: LocalServer):
    """...and a `start` for a call already recorded, which would overwrite its recording."""
    with TALLY.case("replay: stream for a finished call"):
        call_sid = f"CA{secrets.token_hex(16)}"
        start = granted_start(target, call_sid)
        with open_stream(target) as ws:
            send_all(
                ws,
                [
                    start,
                    *[media_message(i) for i in range(50)],
                    json.dumps({"event": "stop", "stop": {}}),
                ],
            )
            finish(ws)
        wav = wait_for(lambda: next(target.recordings.rglob(f"{call_sid}.wav"), None))
        time.sleep(1.0)  # let the recorder close it
        before = wav.read_bytes()
        with open_stream(target) as replay:
            send_all(replay, [start, *[media_message(i) for i in range(50)]])
            code, reason = finish(replay)
        assert (code, reason) == (1008, "this call already has a stream")
        assert wav.read_bytes() == before
        healthy(target)


def wait_for(probe, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("waited in vain")


FORGED_TOKENS = {
    "none (a known customer's number as `caller`)": None,
    "another call's": "other",
    "expired": "expired",
    "under another secret": "secret",
    "expiry changed": "tampered",
    "garbage": "v1.garbage",
    "not a string": {"token": 1},
}


@pytest.mark.parametrize("kind", FORGED_TOKENS)
def test_a_stolen_upgrade_signature_opens_no_stream_without_its_token(
    target: LocalServer, kind: str
):
    """The upgrade's signature covers only the URL, so it is the same for every stream: with it,
    a `start` for any CallSid and any `caller` used to become a call (the agent greeted the
    stranger by a known customer's name). Now only the one-use token our signed webhook gave
    that very CallSid opens one."""
    with TALLY.case("websocket: stolen upgrade signature, forged or missing stream token"):
        call_sid = f"CA{secrets.token_hex(16)}"
        value = FORGED_TOKENS[kind]
        if value == "other":
            token = granted(target, f"CA{secrets.token_hex(16)}")["token"]
        elif value == "expired":
            token = mint(target.stream_secret, call_sid, int(time.time()) - 1)
        elif value == "secret":
            token = mint("some other secret", call_sid, int(time.time()) + 60)
        elif value == "tampered":
            parts = granted(target, call_sid)["token"].split(".")
            parts[2] = str(int(parts[2]) + 86400)
            token = ".".join(parts)
        else:
            token = value
        params = {"caller": "+15551234567", "callSid": call_sid}
        if token is not None:
            params["token"] = token
        with open_stream(target) as ws:
            send_all(ws, [start_message(call_sid, customParameters=params)])
            send_all(ws, [media_message(i) for i in range(20)])
            code, reason = finish(ws)
        assert code == 1008 and reason.startswith("stream token "), (code, reason)
        assert not list(target.recordings.rglob(f"{call_sid}.*"))
        healthy(target)


UPGRADE_SIGNATURES = {
    "unsigned": "",
    "garbage": "bm90IGEgc2lnbmF0dXJl",
    "http URL": "http",
    "voice webhook's": "webhook",
    "another token": "token",
}


@pytest.mark.parametrize("kind", UPGRADE_SIGNATURES)
def test_websocket_upgrade_without_a_valid_signature_gets_403(target: LocalServer, kind: str):
    with TALLY.case("websocket: unsigned or wrongly signed upgrade"):
        settings = target.settings
        signature = {
            "http": sign(settings, settings.public("/twilio/media")),
            "webhook": sign(settings, settings.public("/twilio/voice"), {"CallSid": "CA1"}),
            "token": sign(
                settings.model_copy(update={"twilio_auth_token": "other"}), settings.stream_url
            ),
        }.get(UPGRADE_SIGNATURES[kind], UPGRADE_SIGNATURES[kind])
        with pytest.raises(InvalidStatus) as refused, open_stream(target, signature=signature):
            pass
        assert refused.value.response.status_code == 403
        healthy(target)


# --- webhooks ---------------------------------------------------------------------------------


forms = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=80), max_size=6)
SIGNATURE_KINDS = ["none", "garbage", "other URL", "other params", "other path", "valid"]


@given(form=forms, kind=st.sampled_from(SIGNATURE_KINDS), path=st.sampled_from(WEBHOOKS))
@fuzz_settings(150)
def test_webhooks_answer_only_valid_signatures(
    target: LocalServer, form: dict[str, str], kind: str, path: str
):
    with TALLY.case("webhooks: random forms, forged or valid signatures"):
        form = {"CallSid": f"CA{secrets.token_hex(16)}", **form}
        settings, url = target.settings, target.settings.public(path)
        signature = {
            "none": None,
            "garbage": base64.b64encode(os.urandom(20)).decode(),
            "other URL": sign(settings, url + "x", form),
            "other params": sign(settings, url, {**form, "CallSid": "CA0"}),
            "other path": sign(
                settings,
                settings.public("/twilio/status" if "voice" in path else "/twilio/voice"),
                form,
            ),
            "valid": sign(settings, url, form),
        }[kind]
        headers = {"X-Twilio-Signature": signature} if signature else {}
        reply = httpx.post(f"{target.http}{path}", data=form, headers=headers, timeout=10)
        if kind == "valid":
            assert reply.status_code in (200, 204), reply.text
        else:
            assert reply.status_code == 403, reply.text


def test_a_replayed_webhook_changes_nothing(target: LocalServer):
    """Twilio's signature has no timestamp, so a captured webhook verifies again. The voice
    webhook only answers TwiML (the stream it names is then refused as a replay); status
    callbacks only log; so a replay gets the same answer and does nothing new."""
    with TALLY.case("replay: signed webhook sent again"):
        form = {
            "CallSid": f"CA{secrets.token_hex(16)}",
            "From": "+15550001111",
            "AccountSid": "AC" + "1" * 32,
            "CallStatus": "ringing",
        }
        signature = sign(target.settings, target.settings.public("/twilio/voice"), form)
        answers = [
            httpx.post(
                f"{target.http}/twilio/voice",
                data=form,
                timeout=10,
                headers={"X-Twilio-Signature": signature},
            )
            for _ in range(3)
        ]
        assert {a.status_code for a in answers} == {200}
        assert len({a.text for a in answers}) == 1


def raw_http(server: LocalServer, head: str, body_chunks: list[bytes] = ()) -> tuple[int, bytes]:
    """Send bytes exactly as given, stopping as soon as the server answers (it may refuse
    before the body is all sent); return the status and the body that came back."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        try:
            sock.sendall(head.encode("latin-1"))
            for chunk in body_chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # an answer is waiting: reading on avoids a reset
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and closed before reading it all: read its answer
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), data[:200]
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def post_head(server: LocalServer, path: str, extra: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n{extra}\r\n"
    )


def chunked(total: int, size: int = 16384) -> list[bytes]:
    chunks = [
        b"%x\r\n%s\r\n" % (min(size, total - i), b"a" * min(size, total - i))
        for i in range(0, total, size)
    ]
    return [*chunks, b"0\r\n\r\n"]


OVERSIZED = {
    "declared 65 KB": (BODY_LIMIT + 1, "length"),
    "declared 10 MB": (10 << 20, "length"),
    "chunked 200 KB": (200_000, "chunked"),
    "chunked 5 MB": (5 << 20, "chunked"),
}


@pytest.mark.parametrize("path", WEBHOOKS)
@pytest.mark.parametrize("case", OVERSIZED)
def test_oversized_webhook_bodies_get_413(target: LocalServer, path: str, case: str):
    with TALLY.case("webhooks: oversized bodies"):
        size, how = OVERSIZED[case]
        if how == "length":  # refused on the header alone: the body is never sent
            status, _ = raw_http(target, post_head(target, path, f"Content-Length: {size}\r\n"))
        else:
            status, _ = raw_http(
                target, post_head(target, path, "Transfer-Encoding: chunked\r\n"), chunked(size)
            )
        assert status == 413
        healthy(target)


@pytest.mark.parametrize(
    "header",
    ["Content-Length: banana\r\n", "Content-Length: -5\r\n", "X-Junk: " + "j" * 100_000 + "\r\n"],
)
def test_malformed_requests_get_a_4xx(target: LocalServer, header: str):
    with TALLY.case("webhooks: malformed requests"):
        status, _ = raw_http(target, post_head(target, "/twilio/voice", header))
        assert 400 <= status < 500
        healthy(target)


def test_a_body_under_the_limit_still_reaches_the_signature_check(target: LocalServer):
    with TALLY.case("webhooks: large but allowed body"):
        form = {"CallSid": f"CA{secrets.token_hex(16)}", "Pad": "p" * 50_000}
        signature = sign(target.settings, target.settings.public("/twilio/status"), form)
        signed = httpx.post(
            f"{target.http}/twilio/status",
            data=form,
            timeout=10,
            headers={"X-Twilio-Signature": signature},
        )
        unsigned = httpx.post(f"{target.http}/twilio/status", data=form, timeout=10)
        assert (signed.status_code, unsigned.status_code) == (204, 403)


# --- review: traversal and injection ----------------------------------------------------------


PASSWD = b"root:x:0:0:"  # /etc/passwd served would contain this
OUTSIDE_SID = "CA" + "f" * 32  # a call whose row points at files outside the recordings
TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "....//....//etc/passwd",
    "..\\..\\..\\etc\\passwd",
    "%00",
    "..%00.wav",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "%c0%ae%c0%ae/",
    "CA" + "a" * 32 + "/../../../etc/passwd",
    "~root",
    "%ff%fe",
    "con",
    "\u202e",
    OUTSIDE_SID,
]
INJECTIONS = [
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE calls; --",
    'refund" OR 1',
    "NEAR(a b)",
    "a* OR b*",
    "text:foo",
    "^start",
    '"unbalanced',
    "*",
    "AND",
    "NOT x",
    "%",
    "_",
    "\\",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${7*7}",
    "%s%s%s%n",
    "\u0000",
    "=cmd|' /C calc'!A0",
    "' UNION SELECT password_hash FROM review_managers--",
]
REVIEW_PATHS = [
    "/review/calls/{x}",
    "/review/calls/{x}/audio",
    "/review/calls/{x}/waveform.json",
    "/review/calls/{x}/transcript.json",
    "/review/calls/{x}/transcript.txt",
    "/review/static/{x}",
    "/review/{x}",
]
FILTERS = ["q", "caller", "tag", "outcome", "escalated", "from", "to", "page"]


@dataclass
class ReviewTarget:
    base: str
    cookie: str
    forbidden: list[bytes]  # what must never be in an answer (a secret file's contents)


def review_login(base: str, name: str, password: str) -> str:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        page = client.get("/review/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        reply = client.post(
            "/review/login", data={"name": name, "password": password, "csrf_token": token}
        )
        assert reply.status_code == 303, reply.text
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


@pytest.fixture(scope="module", params=["live server", "review app alone"])
def review_target(
    request: pytest.FixtureRequest, target: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReviewTarget]:
    secret = b"root:x:0:0 SECRET-SENTINEL"
    if request.param == "live server":
        if all(
            httpx.get(f"{target.http}{p}", timeout=10).status_code == 404
            for p in ("/review", "/review/login", "/review/calls")
        ):
            pytest.skip(
                "/review is not mounted on the server yet: telephony/app.py does not "
                "include review.routes.create_review_router"
            )
        from review.auth import save_manager
        from voice.store.calls import Store

        (target.workdir / "secret.wav").write_bytes(secret)
        store = Store(target.database_url)
        save_manager(store.engine, "abuse", "abuse correct horse battery")
        # A call row whose stored paths lead out of RECORDINGS_DIR, as a tampered row might.
        store.start_call(
            OUTSIDE_SID,
            "+15550000001",
            "MZ1",
            str(target.recordings / ".." / "secret.wav"),
            "/etc/passwd",
        )
        store.finish_call(OUTSIDE_SID, "caller_hangup")
        yield ReviewTarget(
            target.http,
            review_login(target.http, "abuse", "abuse correct horse battery"),
            [secret, PASSWD],
        )
        return
    from review_fixtures import MANAGER, PASSWORD, make_world, review_app, serve

    world = make_world(tmp_path_factory.mktemp("abuse-review"))
    with serve(review_app(world)) as base:
        secret_wav = (world.root / "secret.wav").read_bytes()
        yield ReviewTarget(
            base, review_login(base, MANAGER, PASSWORD), [secret, secret_wav, PASSWD]
        )


def raw_get(base: str, path: str, cookie: str) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
            "Connection: close\r\n\r\n".encode("utf-8", "surrogateescape")
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


segment = st.one_of(
    st.sampled_from(TRAVERSALS),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n ?#"), min_size=1, max_size=40),
)


@given(template=st.sampled_from(REVIEW_PATHS), x=segment)
@fuzz_settings(150)
def test_review_paths_never_leave_their_folders(review_target: ReviewTarget, template: str, x: str):
    with TALLY.case("review: path traversal"):
        path = template.replace("{x}", x)
        status, body = raw_get(review_target.base, path, review_target.cookie)
        assert status in (200, 303, 307, 400, 401, 404, 405, 422), (path, status)
        assert not any(s in body for s in review_target.forbidden), path


@given(
    params=st.dictionaries(
        st.sampled_from(FILTERS),
        st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=60)),
        min_size=1,
        max_size=4,
    ),
    export=st.booleans(),
)
@fuzz_settings(100)
def test_review_search_and_filters_survive_injection(
    review_target: ReviewTarget, params: dict[str, str], export: bool
):
    with TALLY.case("review: search and filter injection"):
        path = "/review/calls.csv" if export else "/review/calls"
        with httpx.Client(
            base_url=review_target.base, timeout=20, headers={"Cookie": review_target.cookie}
        ) as client:
            reply = client.get(path, params=params)
        out_of_range = reply.status_code == 400 and "Dates must be between" in reply.text
        assert reply.status_code == 200 or out_of_range, (params, reply.status_code)
        assert b"<script>alert(1)</script>" not in reply.content  # escaped, never markup


@pytest.mark.parametrize("path", ["/review/calls", "/review/calls.csv", "/review/dashboard"])
@pytest.mark.parametrize(
    "query", ["to=9999-12-31", "from=0001-01-05", "from=0001-01-01&to=9999-12-31"]
)
def test_review_dates_out_of_range_get_a_clear_400(
    review_target: ReviewTarget, path: str, query: str
):
    """Were 500s, and a CSV cut off after its 200 (a day past 9999-12-31 cannot be computed)."""
    with TALLY.case("review: dates out of range"):
        with httpx.Client(
            base_url=review_target.base, timeout=20, headers={"Cookie": review_target.cookie}
        ) as client:
            reply = client.get(f"{path}?{query}")
        assert reply.status_code == 400 and "Dates must be between" in reply.text


# --- the end: everyone else was fine ----------------------------------------------------------


def test_zz_nothing_crashed_and_the_bystander_was_answered(
    target: LocalServer, bystander: Bystander, capsys: pytest.CaptureFixture
):
    bystander.finish()
    healthy(target)
    with TALLY.case("bystander: well-behaved calls during the abuse"):
        assert bystander.failures == [], bystander.failures
        assert len(bystander.answered) >= 1
    wait_for(lambda: httpx.get(f"{target.http}/healthz").json()["active_calls"] == 0, 30)
    crashes = [
        line
        for line in target.log().splitlines()
        if any(marker in line for marker in CRASH_MARKERS)
    ]
    with capsys.disabled():
        print(
            f"\n\nAbuse suite ({len(bystander.answered)} bystander calls answered, slowest "
            f"reply {max(bystander.answered, default=0):.0f} ms):\n{TALLY.table()}\n"
        )
    assert crashes == [], crashes[:5]
    assert stray_files(target) == []
