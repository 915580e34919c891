"""The live console against the real server and the simulator: a call in progress shows on
/review/live within a second and its transcript grows (server-sent events); the listen socket
delivers the call's audio, its level following the caller's speech, well under 1.5 s behind;
a typed sentence is heard by the caller; a flagged action is not taken; take over reaches
Twilio's REST API (stand-in) with the manager's number; end is polite. And what must fail:
strangers, other sites, missing CSRF tokens, ended calls, oversized sentences."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import websockets
from console_fixtures import MANAGER, MANAGER_PHONE, console_server, csrf, login
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio_standin import TwilioStandin

from telephony.evaluation import CallerVoice
from telephony.local_server import LocalServer
from telephony.simulator import simulate_call, transcribe_audio
from voice.store.calls import Store
from voice.store.live import live_call
from voice.store.schema import Call, Card, SupervisorAction, Turn

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
OLGA = "+15550193344"  # card 6620 active (seeded business data)
SENTENCE = "Our office is closed on Sunday, but the online shop stays open."


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[tuple[LocalServer, TwilioStandin]]:
    with console_server(tmp_path_factory.mktemp("live")) as both:
        yield both


@pytest.fixture(scope="module")
def server(running) -> LocalServer:
    return running[0]


@pytest.fixture(scope="module")
def twilio(running) -> TwilioStandin:
    return running[1]


@pytest.fixture(scope="module")
def engine(server: LocalServer):
    store = Store(server.database_url)
    yield store.engine
    store.engine.dispose()


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> CallerVoice:
    return CallerVoice(tmp_path_factory.mktemp("caller-voice"))


class Events:
    """A server-sent event stream read in a thread: (arrival time, event, data)."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self.received: list[tuple[float, str, object]] = []
        self._client, self._path = client, path
        self._stop = False
        self.status = 0

    async def run(self) -> None:
        await asyncio.to_thread(self._read)

    def _read(self) -> None:
        try:
            self._read_events()
        except httpx.HTTPError:  # closed by the test once it has what it needs
            return

    def _read_events(self) -> None:
        with self._client.stream("GET", self._path, timeout=None) as response:
            self.status = response.status_code
            if response.status_code != 200:
                return
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.received.append((time.time(), event, json.loads(line[6:])))
                    if event in ("ended", "gone", "expired") or self._stop:
                        return

    def stop(self) -> None:
        self._stop = True

    def of(self, kind: str) -> list[tuple[float, object]]:
        return [(at, data) for at, event, data in self.received if event == kind]


async def wait_for(predicate, timeout: float = 20.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(every)


def started_at(engine, call_sid: str) -> datetime | None:
    with Session(engine) as db:
        value = db.scalar(select(Call.started_at).where(Call.call_sid == call_sid))
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def envelope(audio: np.ndarray, window: int = 800) -> np.ndarray:
    """Loudness in 100 ms windows."""
    x = audio.astype(np.float64)
    n = len(x) // window * window
    return np.sqrt((x[:n].reshape(-1, window) ** 2).mean(axis=1))


def best_match(a: np.ndarray, b: np.ndarray, shifts: int = 5) -> float:
    """The best correlation of two envelopes shifted by up to `shifts` windows either way
    (the caller's clock and the recording's start a few milliseconds apart)."""
    scores = []
    for k in range(-shifts, shifts + 1):
        x, y = (a[k:], b) if k >= 0 else (a, b[-k:])
        n = min(len(x), len(y))
        scores.append(float(np.corrcoef(x[:n], y[:n])[0, 1]))
    return max(scores)


def new_sid() -> str:
    import secrets

    return "CA" + secrets.token_hex(16)


def command(client: httpx.Client, call_sid: str, name: str, text: str = "") -> httpx.Response:
    token = csrf(client.get(f"/review/live/{call_sid}").text)
    return client.post(f"/review/live/{call_sid}/{name}", data={"csrf_token": token, "text": text})


async def test_a_call_shows_live_within_a_second_and_its_transcript_grows(server, engine):
    sid = new_sid()
    client = login(server.http)
    listing = Events(client, "/review/live/events")
    reader = asyncio.create_task(listing.run())
    call = asyncio.create_task(
        simulate_call(
            [SAMPLES / "hello.wav", SAMPLES / "order_status.wav"],
            url=server.media_url,
            settings=server.settings,
            caller="+15551234567",
            call_sid=sid,
            transcribe=False,
        )
    )

    def shown() -> float | None:
        for at, data in listing.of("calls"):
            if any(c["sid"] == sid for c in data["calls"]):
                return at
        return None

    seen = await wait_for(shown)
    delay = seen - started_at(engine, sid).timestamp()
    [row] = [
        c
        for at, data in listing.of("calls")
        if at == seen
        for c in data["calls"]
        if c["sid"] == sid
    ]
    assert row["caller"] == "+1 555 ••• 4567" and row["name"] == "Maria Lopez"
    assert "15551234567" not in json.dumps(listing.received)
    print(f"live list: the call appeared {delay:.2f} s after it started")
    assert delay < 1.0, f"the call appeared {delay:.2f} s after it started"

    page = Events(login(server.http), f"/review/live/{sid}/events")
    page_reader = asyncio.create_task(page.run())
    result = await call
    await asyncio.wait_for(page_reader, 15)
    turns = [turn for at, data in page.of("turns") for turn in data]
    assert [t["i"] for t in turns] == sorted({t["i"] for t in turns})  # each once, in order
    assert {t["role"] for t in turns} == {"caller", "agent"} and len(turns) >= 4
    first_turn_at = page.of("turns")[0][0]
    ended_at = page.of("ended")[0][0]
    assert first_turn_at < ended_at - 3  # it grew while the call went on
    assert page.of("ended")[0][1]["reviewUrl"] == f"/review/calls/{sid}"
    assert page.of("sentiment") and page.of("state")[-1][1]["intent"]
    assert any(t["text"] for t in turns if t["role"] == "caller")

    def gone() -> bool:
        latest = listing.of("calls")[-1][1]
        return all(c["sid"] != sid for c in latest["calls"]) and any(
            c["sid"] == sid and c["reviewUrl"] == f"/review/calls/{sid}" for c in latest["ended"]
        )

    await wait_for(gone, 5)
    listing.stop()
    client.close()
    await asyncio.wait_for(reader, 20)
    assert result.close_code is not None


async def test_the_listen_socket_delivers_the_call_as_recorded(server, engine):
    sid = new_sid()
    client = login(server.http)
    token = csrf(client.get("/review/live").text)
    cookie = f"review_session={client.cookies['review_session']}"
    origin = server.http
    url = f"ws://127.0.0.1:{server.port}/review/live/{sid}/listen?worker=x"
    call = asyncio.create_task(
        simulate_call(
            [SAMPLES / "hello.wav", SAMPLES / "order_status.wav"],
            url=server.media_url,
            settings=server.settings,
            call_sid=sid,
            transcribe=False,
        )
    )
    await wait_for(lambda: (v := live_call(engine, sid)) is not None and v.live)

    async def listen() -> list[tuple[float, bytes]]:
        got = []
        async with websockets.connect(
            url, additional_headers={"Cookie": cookie, "Origin": origin}
        ) as ws:
            await ws.send(json.dumps({"csrf": token}))
            header = json.loads(await ws.recv())
            assert header == {"format": "s16le", "rate": 8000, "channels": 2, "call": sid}
            async for message in ws:
                got.append((time.time(), message))
        return got

    listeners = [asyncio.create_task(listen()) for _ in range(2)]  # two managers at once
    result = await call
    blocks = [await asyncio.wait_for(task, 20) for task in listeners]
    start = started_at(engine, sid).timestamp()
    with Session(engine) as db:
        wav = Path(db.get(Call, sid).recording_path)
    total = sf.info(wav).frames / 8000  # the recording's length: the last block ends there
    for got in blocks:
        assert len(got) > 20
        audio = np.frombuffer(b"".join(b for _, b in got), dtype=np.int16).reshape(-1, 2)
        # Lag: when each block arrived vs where it ends on the call's timeline.
        sizes = np.array([len(b) // 4 for _, b in got])
        ends = total - (sizes[::-1].cumsum()[::-1] - sizes) / 8000
        lags = np.array([at for at, _ in got]) - (start + ends)
        print(f"listen-in lag: median {np.median(lags):.2f} s, p95 {np.percentile(lags, 95):.2f} s")
        assert np.median(lags) < 1.5 and np.percentile(lags, 95) < 1.5
        # The caller channel follows what the caller's phone sent (100 ms envelopes).
        joined = round((total - len(audio) / 8000) * 8000)
        best = best_match(envelope(result.caller_audio[joined:]), envelope(audio[:, 0]))
        assert best > 0.8, best
        assert np.abs(audio[:, 1]).max() > 1000  # and the agent is in the other channel
    with Session(engine) as db:
        kinds = db.scalars(
            select(SupervisorAction.kind).where(SupervisorAction.call_sid == sid)
        ).all()
    assert kinds.count("listen") == 2


async def test_a_typed_sentence_is_said_in_the_agents_voice(server, engine):
    sid = new_sid()
    client = login(server.http)
    call = asyncio.create_task(
        simulate_call(
            [SAMPLES / "hello.wav", SAMPLES / "order_status.wav"],
            url=server.media_url,
            settings=server.settings,
            call_sid=sid,
            transcribe=False,
        )
    )
    await wait_for(lambda: (v := live_call(engine, sid)) is not None and v.live)
    queued = command(client, sid, "say", SENTENCE)
    assert queued.status_code == 202, queued.text
    result = await call
    heard = await asyncio.to_thread(transcribe_audio, result.agent_audio)
    assert len(words(SENTENCE) & words(heard)) >= 0.8 * len(words(SENTENCE)), heard
    with Session(engine) as db:
        turns = db.scalars(select(Turn).where(Turn.call_sid == sid, Turn.supervisor != "")).all()
        action = db.scalars(select(SupervisorAction).where(SupervisorAction.call_sid == sid)).one()
    assert [(t.role, t.text, t.supervisor) for t in turns] == [("agent", SENTENCE, MANAGER)]
    assert (action.kind, action.state, action.result) == ("say", "done", "said")
    review = client.get(f"/review/calls/{sid}").text  # afterwards, on the call's page
    assert "said for maria" in review and 'id="supervision"' in review
    metrics = httpx.get(f"{server.http}/metrics", headers=server.metrics_headers).text
    assert re.search(r'callcentre_supervisor_actions_total\{kind="say"\} [1-9]', metrics)


async def test_a_flagged_action_is_not_taken_and_take_over_reaches_twilio(
    server, twilio, engine, voice
):
    sid = twilio.add_call(new_sid())
    client = login(server.http)
    sources = [
        str(voice.wav_for("Hello, I would like to block my card, please.")),
        str(voice.wav_for("Yes, go ahead.")),
        str(voice.wav_for("Thank you.")),
    ]
    call = asyncio.create_task(
        simulate_call(
            sources,
            url=server.media_url,
            settings=server.settings,
            caller=OLGA,
            call_sid=sid,
            transcribe=False,
        )
    )
    view = await wait_for(
        lambda: (
            (v := live_call(engine, sid)) is not None and v.pending_action == "block_card" and v
        ),
        timeout=60,
    )
    assert "6620" in view.pending_question
    assert command(client, sid, "block", "block_card").status_code == 202
    await wait_for(lambda: "block_card" in live_call(engine, sid).blocked_actions)
    await wait_for(lambda: live_call(engine, sid).turns >= 2, timeout=60)  # the yes was heard
    twilio.requests.clear()
    assert command(client, sid, "take-over").status_code == 202
    await call
    with Session(engine) as db:
        card = db.scalars(select(Card).where(Card.last4 == "6620")).one()
        actions = db.scalars(
            select(SupervisorAction)
            .where(SupervisorAction.call_sid == sid)
            .order_by(SupervisorAction.id)
        ).all()
        row = db.get(Call, sid)
    assert card.status == "active"  # the caller said yes; the supervisor's flag held
    assert [(a.kind, a.state) for a in actions] == [("block", "done"), ("take_over", "done")]
    assert "manager's phone" in actions[1].result
    [update] = [r for r in twilio.requests if r.call_sid == sid]
    number = update.twiml.find("./Dial/Number")
    assert number is not None and number.text == MANAGER_PHONE and "whisper" in number.get("url")
    assert row.escalated and row.escalation_rule == "supervisor"


async def test_end_politely(server, engine):
    sid = new_sid()
    client = login(server.http)
    call = asyncio.create_task(
        simulate_call(
            [SAMPLES / "hello.wav", SAMPLES / "order_status.wav", SAMPLES / "goodbye.wav"],
            url=server.media_url,
            settings=server.settings,
            call_sid=sid,
            transcribe=False,
        )
    )
    await wait_for(lambda: (v := live_call(engine, sid)) is not None and v.turns >= 1, timeout=60)
    assert command(client, sid, "end").status_code == 202
    result = await call
    heard = await asyncio.to_thread(transcribe_audio, result.agent_audio[-8000 * 8 :])
    assert {"goodbye", "thank"} & words(heard), heard
    with Session(engine) as db:
        row = db.get(Call, sid)
    assert row.end_reason == "agent_hangup" and len(result.turns) < 3
    assert command(client, sid, "say", "Too late.").status_code == 409  # it has ended


async def test_what_must_fail(server, engine):
    sid = new_sid()
    anonymous = httpx.Client(base_url=server.http, follow_redirects=False, timeout=10)
    assert anonymous.get("/review/live").status_code == 303
    assert anonymous.get("/review/live/events").status_code == 401
    assert anonymous.get(f"/review/live/{sid}/events").status_code == 401
    assert anonymous.get(f"/review/live/{sid}").status_code == 303
    reply = anonymous.post(f"/review/live/{sid}/say", data={"csrf_token": "x", "text": "hi"})
    assert reply.status_code == 303 and reply.headers["location"] == "/review/login"

    client = login(server.http)
    call = asyncio.create_task(
        simulate_call(
            [SAMPLES / "hello.wav"],
            url=server.media_url,
            settings=server.settings,
            call_sid=sid,
            transcribe=False,
        )
    )
    await wait_for(lambda: (v := live_call(engine, sid)) is not None and v.live)
    assert client.post(f"/review/live/{sid}/say", data={"text": "hi"}).status_code == 403
    assert (
        client.post(f"/review/live/{sid}/say", data={"text": "hi", "csrf_token": "no"}).status_code
        == 403
    )
    too_long = command(client, sid, "say", "word " * 61)
    assert too_long.status_code == 400 and "at most 300" in too_long.json()["error"]
    assert command(client, sid, "drop-tables").status_code == 404
    token = csrf(client.get(f"/review/live/{sid}").text)
    cookie = f"review_session={client.cookies['review_session']}"
    url = f"ws://127.0.0.1:{server.port}/review/live/{sid}/listen"
    for headers in ({"Origin": server.http}, {"Cookie": cookie, "Origin": "https://evil.example"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": server.http}
    ) as ws:
        await ws.send(json.dumps({"csrf": "guess"}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1008
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/review/live/CA{'0' * 32}/listen",
        additional_headers={"Cookie": cookie, "Origin": server.http},
    ) as ws:
        await ws.send(json.dumps({"csrf": token}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 4404
    await call
    await wait_for(lambda: not live_call(engine, sid).live)
    ended = command(client, sid, "say", "Hello?")
    assert ended.status_code == 409 and "ended" in ended.json()["error"]


# -- in a real browser (Debian's chromium through Playwright) --------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
]
ROW = "sid => !!document.querySelector(`#live-rows tr[data-sid='${sid}']`)"
INTENT_SHOWN = """sid => { const row = document.querySelector(`#live-rows tr[data-sid='${sid}']`);
  return !!row && row.querySelector('td.intent').textContent !== '–'; }"""
INKED = """() => { const c = document.getElementById('sentiment-chart');
  if (!c || !window.Chart || !Chart.getChart(c)) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) ink++; return ink > 300; }"""


def browser_page(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    context = browser.new_context(viewport={"width": 1366, "height": 860}, reduced_motion="reduce")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    return browser, page


def until(page, script: str, arg: object = None, timeout: float = 30.0) -> float:
    """Poll with page.evaluate (the pages' CSP forbids wait_for_function's eval); returns when."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, f"timed out waiting for {script!r}"
        page.wait_for_timeout(50)
    return time.time()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_live_pages_in_a_browser(server, engine):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    sid = new_sid()
    caller = ThreadPoolExecutor(1)  # the caller in a thread: Playwright's API here is sync
    with sync_playwright() as playwright:
        browser, page = browser_page(playwright)
        page.goto(server.http + "/review/live")
        page.fill("input[name=name]", MANAGER)
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url("**/review/live")
        until(page, "() => document.getElementById('live-status').dataset.state === 'open'")
        call = caller.submit(
            asyncio.run,
            simulate_call(
                [SAMPLES / "hello.wav", SAMPLES / "order_status.wav", SAMPLES / "goodbye.wav"],
                url=server.media_url,
                settings=server.settings,
                caller="+15551234567",
                call_sid=sid,
                transcribe=False,
            ),
        )
        shown = until(page, ROW, sid)
        delay = shown - started_at(engine, sid).timestamp()
        print(f"browser: the call's row appeared {delay:.2f} s after the call started")
        assert delay < 1.5  # within 1 s of the row, plus the browser's own poll above
        row = page.inner_text(f"#live-rows tr[data-sid='{sid}']")
        assert "Maria Lopez" in row and "+1 555 ••• 4567" in row and "15551234567" not in row
        until(page, INTENT_SHOWN, sid, timeout=60)  # the caller's first turn is understood
        page.screenshot(path=SHOTS / "live.png", full_page=True)

        page.click(f"#live-rows tr[data-sid='{sid}'] a.row-link")
        page.wait_for_url(f"**/review/live/{sid}")
        assert page.is_hidden("#ended-banner") and page.is_hidden("#review-link")
        until(page, "() => Number(document.body.dataset.turns || 0) >= 2")
        grown_from = int(page.evaluate("document.body.dataset.turns"))
        page.click("#listen")
        until(page, "() => window.LiveListen.listening()")
        until(page, "() => window.LiveListen.levels.some(l => l.caller > 0.02)", timeout=40)
        until(page, f"() => Number(document.body.dataset.turns || 0) > {grown_from}", timeout=60)
        page.fill("#say-text", "One moment please, I am checking that for you.")
        page.click("#say-form button[type=submit]")
        until(
            page,
            "() => document.getElementById('command-status').dataset.state === 'done'",
            timeout=60,
        )
        until(
            page,
            "() => !!document.querySelector('#supervisor-actions li .chip.state-done')",
            timeout=60,
        )
        until(page, INKED, timeout=60)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=SHOTS / "live-call.png", full_page=True)
        until(page, "() => document.body.dataset.ended === '1'", timeout=120)
        assert page.is_visible("#ended-banner") and page.is_visible("#review-link")
        assert page.is_hidden("#block-action")
        levels = page.evaluate("window.LiveListen.levels.map(l => l.caller)")
        assert max(levels) > 0.02 and min(levels) < 0.005  # speech and silence both heard
        assert "said for maria" in page.inner_text("#timeline")
        assert page.errors == [], page.errors
        browser.close()
    call.result(timeout=120)
    caller.shutdown()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_callbacks_page_in_a_browser(server, engine):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    from voice.store.callbacks import request_callback

    request_callback(
        engine,
        call_sid=new_sid(),
        phone="+15550001111",
        name="John Smith",
        reason="The person did not answer the transfer (no-answer); the caller wanted: a refund",
        summary="Order 4610 is still processing after nine days; caller wants it cancelled.",
    )
    with sync_playwright() as playwright:
        browser, page = browser_page(playwright)
        page.goto(server.http + "/review/callbacks")
        page.fill("input[name=name]", MANAGER)
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url("**/review/callbacks")
        assert "John Smith" in page.inner_text(".callback-list")
        assert "+15550001111" not in page.content()
        page.screenshot(path=SHOTS / "callbacks.png", full_page=True)
        assert page.errors == [], page.errors
        browser.close()
