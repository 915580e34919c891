"""Two workers on one PostgreSQL database: a call held by one shows on the other's live list
(LISTEN/NOTIFY, within a second), a manager on the other worker steers it (the holding worker
carries the command out), and listen-in is served only by the worker holding the call (the
other one says which worker that is). Needs TEST_POSTGRES_URL (`.ci/run` starts PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator

import pytest
import websockets
from console_fixtures import MANAGER, PASSWORD, csrf, login
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from test_live_console import SAMPLES, Events, started_at, wait_for, words

from review.auth import save_manager
from telephony.local_server import LocalServer
from telephony.simulator import simulate_call, transcribe_audio
from voice.store.calls import Store
from voice.store.live import live_call
from voice.store.schema import SupervisorAction, Turn

BASE = os.environ.get("TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(not BASE, reason="TEST_POSTGRES_URL is not set (.ci/run sets it)")
SENTENCE = "Your parcel left our warehouse this morning."


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(BASE)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(BASE).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def workers(tmp_path_factory, database: str) -> Iterator[tuple[LocalServer, LocalServer]]:
    secret = secrets.token_hex(32)
    servers = [
        LocalServer(
            tmp_path_factory.mktemp(name),
            stream_secret=secret,
            extra_env={
                "DATABASE_URL": database,
                "WORKER_NAME": name,
                "REVIEW_COOKIE_SECURE": "never",
            },
        )
        for name in ("w-a", "w-b")
    ]
    for server in servers:  # one after the other: the first seeds the business data
        server.start()
    engine = Store(database).engine
    save_manager(engine, MANAGER, PASSWORD)
    engine.dispose()
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


async def test_a_call_on_one_worker_is_watched_and_steered_from_the_other(workers, database):
    a, b = workers
    engine = Store(database).engine
    sid = "CA" + secrets.token_hex(16)
    on_b = login(b.http)
    listing = Events(on_b, "/review/live/events")
    reader = asyncio.create_task(listing.run())
    await asyncio.sleep(1.0)  # the stream is open
    call = asyncio.create_task(
        simulate_call(
            [SAMPLES / "hello.wav", SAMPLES / "order_status.wav"],
            url=a.media_url,
            settings=a.settings,
            call_sid=sid,
            transcribe=False,
        )
    )

    def shown() -> float | None:
        return next(
            (at for at, data in listing.of("calls") if any(c["sid"] == sid for c in data["calls"])),
            None,
        )

    seen = await wait_for(shown, timeout=30)
    delay = seen - started_at(engine, sid).timestamp()
    print(f"worker B listed worker A's call {delay:.2f} s after it started")
    assert delay < 1.0
    row = next(c for c in listing.of("calls")[-1][1]["calls"] if c["sid"] == sid)
    assert row["worker"] == "w-a"

    page = on_b.get(f"/review/live/{sid}").text
    assert '"worker": "w-a"' in page or '"worker":"w-a"' in page  # the page knows where to listen
    token = csrf(page)
    said = on_b.post(f"/review/live/{sid}/say", data={"csrf_token": token, "text": SENTENCE})
    assert said.status_code == 202

    cookie = f"review_session={on_b.cookies['review_session']}"
    for server, expect in ((b, 4404), (a, None)):
        url = f"ws://127.0.0.1:{server.port}/review/live/{sid}/listen?worker=w-a"
        async with websockets.connect(
            url, additional_headers={"Cookie": cookie, "Origin": server.http}
        ) as ws:
            await ws.send(json.dumps({"csrf": token}))
            if expect is not None:  # B does not hold the call: it says who does
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 4404
                assert closed.value.rcvd.reason == "held by worker w-a"
            else:
                assert json.loads(await ws.recv())["channels"] == 2
                assert isinstance(await ws.recv(), bytes)

    result = await call
    heard = await asyncio.to_thread(transcribe_audio, result.agent_audio)
    assert len(words(SENTENCE) & words(heard)) >= 0.8 * len(words(SENTENCE)), heard
    with Session(engine) as db:
        action = db.scalars(
            select(SupervisorAction).where(
                SupervisorAction.call_sid == sid, SupervisorAction.kind == "say"
            )
        ).one()
        marked = db.scalars(select(Turn).where(Turn.call_sid == sid, Turn.supervisor != "")).all()
    assert action.state == "done" and action.worker.endswith(str(a.process.pid))
    assert [t.text for t in marked] == [SENTENCE]
    await wait_for(lambda: not live_call(engine, sid).live, timeout=10)
    listing.stop()
    on_b.close()
    await asyncio.wait_for(reader, 30)
    engine.dispose()
