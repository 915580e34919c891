"""The review routes over real HTTP (uvicorn in a thread): who gets in, CSRF, what files can be
reached, Range requests, exports."""

from __future__ import annotations

import csv
import io
import re
import socket
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.routing import APIRoute
from review_fixtures import MANAGER, NOW, PASSWORD, make_world, review_app, serve
from sqlalchemy import select
from sqlalchemy.orm import Session

from review.auth import save_manager
from review.routes import create_review_router
from voice.settings import Settings
from voice.store.schema import CallNote, CallTag


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return make_world(tmp_path_factory.mktemp("review-http"))


@pytest.fixture(scope="module")
def base(world) -> Iterator[str]:
    with serve(review_app(world)) as url:
        yield url


def login(base: str, name: str = MANAGER, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    token = csrf(client.get("/review/login").text)
    reply = client.post(
        "/review/login", data={"name": name, "password": password, "csrf_token": token}
    )
    assert reply.status_code == 303, reply.text
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def raw_status(base: str, path: str, cookie: str = "") -> int:
    """Send `path` byte for byte (no client-side normalisation of .. or %2F)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        head = sock.recv(64).decode("latin-1")
    return int(head.split()[1])


@pytest.fixture(scope="module")
def client(base: str) -> Iterator[httpx.Client]:
    logged_in = login(base)
    yield logged_in
    logged_in.close()


def test_every_route_refuses_strangers(base: str, world) -> None:
    sid = world.sids["calm"]
    anonymous = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    for path in (
        "/review",
        "/review/",
        "/review/calls",
        "/review/dashboard",
        f"/review/calls/{sid}",
        "/review/calls?q=refund",
    ):
        reply = anonymous.get(path)
        assert reply.status_code == 303, path
        assert reply.headers["location"].startswith("/review/login?next=%2Freview")
    for path in (
        f"/review/calls/{sid}/audio",
        f"/review/calls/{sid}/waveform.json",
        f"/review/calls/{sid}/transcript.json",
        f"/review/calls/{sid}/transcript.txt",
        "/review/calls.csv",
    ):
        assert anonymous.get(path).status_code == 401, path
    for path in (
        f"/review/calls/{sid}/notes",
        f"/review/calls/{sid}/tags",
        f"/review/calls/{sid}/tags/remove",
        "/review/logout",
    ):
        reply = anonymous.post(path, data={"text": "x", "tag": "x", "csrf_token": "x"})
        assert reply.status_code == 303 and reply.headers["location"] == "/review/login", path
    assert anonymous.get("/review/login").status_code == 200
    assert anonymous.get("/review/static/review.css").status_code == 200
    anonymous.cookies.set("review_session", "forged")
    assert anonymous.get("/review/calls").status_code == 303


def test_the_router_has_no_unguarded_route() -> None:
    """A route added later without a guard fails here."""
    public = {"/review/login", "/review/static/{path:path}"}
    for route in create_review_router(Settings(_env_file=None)).routes:
        if not isinstance(route, APIRoute) or route.path in public:
            continue
        guards = {d.call.__name__ for d in route.dependant.dependencies}
        assert guards & {"page", "data", "form"}, route.path


def test_login_needs_its_token_and_the_right_password(base: str) -> None:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    token = csrf(client.get("/review/login").text)
    no_token = client.post("/review/login", data={"name": MANAGER, "password": PASSWORD})
    assert no_token.status_code == 403
    wrong = client.post(
        "/review/login", data={"name": MANAGER, "password": "nope nope nope", "csrf_token": token}
    )
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    ok = client.post(
        "/review/login",
        data={
            "name": MANAGER,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert ok.headers["location"] == "/review/calls"  # no open redirect
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("review_session="))
    assert "HttpOnly" in cookie and "Path=/review" in cookie and "SameSite=lax" in cookie


def test_wrong_passwords_slow_one_address_not_the_manager(base: str) -> None:
    """Five wrong passwords from one address refuse that address for that name (429, even with
    the right password); the manager signing in from elsewhere is not locked out. The address
    is the one a trusted local proxy forwards (the harness trusts X-Forwarded-For from
    127.0.0.1, as TRUSTED_PROXIES=127.0.0.1 would)."""

    def attempt(address: str, password: str) -> httpx.Response:
        client = httpx.Client(
            base_url=base, follow_redirects=False, timeout=10, headers={"X-Forwarded-For": address}
        )
        token = csrf(client.get("/review/login").text)
        return client.post(
            "/review/login", data={"name": MANAGER, "password": password, "csrf_token": token}
        )

    for _ in range(5):
        assert attempt("198.51.100.7", "not the password").status_code == 401
    refused = attempt("198.51.100.7", PASSWORD)
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 900
    assert attempt("203.0.113.9", PASSWORD).status_code == 303  # the real manager, elsewhere
    assert attempt("203.0.113.9", "not the password").status_code == 401


def test_secure_cookie_setting(world) -> None:
    from fastapi.testclient import TestClient

    with TestClient(review_app(world, cookie_secure="always")) as client:
        page = client.get("/review/login")
        assert "Secure" in page.headers["set-cookie"]
        reply = client.post(
            "/review/login",
            follow_redirects=False,
            data={"name": MANAGER, "password": PASSWORD, "csrf_token": csrf(page.text)},
        )
        assert "Secure" in reply.headers["set-cookie"]


def test_forms_need_the_csrf_token(client: httpx.Client, world) -> None:
    sid = world.sids["calm"]
    assert client.post(f"/review/calls/{sid}/notes", data={"text": "no token"}).status_code == 403
    assert (
        client.post(
            f"/review/calls/{sid}/notes", data={"text": "bad", "csrf_token": "guess"}
        ).status_code
        == 403
    )
    assert client.post("/review/logout", data={}).status_code == 403
    token = csrf(client.get(f"/review/calls/{sid}").text)
    ok = client.post(f"/review/calls/{sid}/notes", data={"text": "good call", "csrf_token": token})
    assert ok.status_code == 303 and ok.headers["location"].endswith("#notes")
    tagged = client.post(
        f"/review/calls/{sid}/tags", data={"tag": "Great Call", "csrf_token": token}
    )
    assert tagged.status_code == 303
    with Session(world.store.engine) as db:
        assert db.scalars(select(CallNote.text).where(CallNote.call_sid == sid)).all() == [
            "good call"
        ]
        assert db.scalars(select(CallTag.tag).where(CallTag.call_sid == sid)).all() == [
            "great-call"
        ]
    assert "great-call" in client.get("/review/calls?tag=great-call").text
    client.post(f"/review/calls/{sid}/tags/remove", data={"tag": "great-call", "csrf_token": token})
    assert "great-call" not in client.get(f"/review/calls/{sid}").text


def test_no_file_outside_the_recordings(client: httpx.Client, base: str, world) -> None:
    cookie = f"review_session={client.cookies['review_session']}"
    for path in (
        "/review/calls/..%2F..%2Fetc%2Fpasswd/audio",
        "/review/calls/..%2f..%2f..%2fetc%2fpasswd/audio",
        "/review/recordings/../../etc/passwd",
        "/review/calls/../../../../etc/passwd",
        "/review/calls/%2e%2e/audio",
        "/review/calls/..%5C..%5Cetc%5Cpasswd/audio",
        "/review/static/../routes.py",
        "/review/static/..%2Froutes.py",
        "/review/static/%2e%2e/%2e%2e/voice/settings.py",
        "/review/static//etc/passwd",
        f"/review/calls/{world.sids['outside']}/audio",
        f"/review/calls/{world.sids['symlink']}/audio",
        f"/review/calls/{world.sids['symlink']}/waveform.json",
        f"/review/calls/{world.sids['silent']}/audio",
    ):
        assert raw_status(base, path, cookie) == 404, path


def test_audio_supports_ranges(client: httpx.Client, world) -> None:
    url = f"/review/calls/{world.sids['angry']}/audio"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes" and whole.content[:4] == b"RIFF"
    part = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and len(part.content) == 1000
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole.content)}"
    assert part.content == whole.content[1000:2000]
    assert client.get(url, headers={"Range": "bytes=99999999-"}).status_code == 416
    download = client.get(url + "?download=1")
    assert download.headers["content-disposition"].startswith("attachment")


def test_exports(client: httpx.Client, world) -> None:
    sid = world.sids["angry"]
    body = client.get(f"/review/calls/{sid}/transcript.json").json()
    assert body["call"]["caller"] == "+1 555 ••• 6543" and len(body["turns"]) == 5
    assert body["turns"][2]["interrupted"] is True
    assert any(e["type"] == "escalation" for e in body["events"])
    assert "recording_path" not in body["call"]
    text = client.get(f"/review/calls/{sid}/transcript.txt").text
    assert "[0:07.0] Caller: This is ridiculous" in text and "interrupted" in text
    rows = list(csv.DictReader(io.StringIO(client.get("/review/calls.csv?escalated=yes").text)))
    assert [r["call_sid"] for r in rows] == [sid]
    assert rows[0]["caller"] == "+1 555 ••• 6543" and rows[0]["caller_name"] == "Bob Brown"
    everything = list(csv.DictReader(io.StringIO(client.get("/review/calls.csv").text)))
    assert len(everything) == 17  # all pages, not only the first
    searched = client.get("/review/calls.csv?q=ridiculous").text
    assert sid in searched and world.sids["calm"] not in searched


def test_pages_and_headers(client: httpx.Client, world) -> None:
    page = client.get("/review/calls?outcome=escalated")
    assert page.status_code == 200 and world.sids["angry"] in page.text
    assert world.sids["calm"] not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "private, no-store"
    assert "Older" in client.get("/review/calls").text  # 17 calls, 10 a page
    assert "Newer" in client.get("/review/calls?page=2").text
    call = client.get(f"/review/calls/{world.sids['angry']}")
    assert "Caller barged in" in call.text and "about a double charge" in call.text
    assert "+15559876543" not in call.text and "+1 555 ••• 6543" in call.text
    assert client.get("/review/calls/CA-unknown").status_code == 404
    script = "<script>alert(1)</script>"
    assert script not in client.get("/review/calls", params={"q": script}).text  # escaped
    assert client.get("/review/dashboard?days=7").status_code == 200
    happy_day = (NOW - timedelta(days=6)).date().isoformat()  # only calls at +0.3
    happy = client.get(f"/review/dashboard?from={happy_day}&to={happy_day}").text
    assert 'id="no-low-calls"' in happy and 'class="low-list"' not in happy
    assert client.get("/review/dashboard?from=2020-01-01&to=bad").status_code == 200


def test_logout_ends_the_session(base: str) -> None:
    client = login(base)
    session = client.cookies["review_session"]
    token = csrf(client.get("/review/calls").text)
    assert client.post("/review/logout", data={"csrf_token": token}).status_code == 303
    replay = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    replay.cookies.set("review_session", session)
    assert replay.get("/review/calls").status_code == 303  # the old cookie no longer works


def test_a_name_guessed_from_rotating_addresses_is_slowed_down(base: str, world) -> None:
    """Through a trusted proxy every guess may come from a new address: past ten wrong
    passwords for one name the name is slowed for all of them (429, Retry-After of seconds),
    while the manager's own browser, which signed in before, still gets in."""
    save_manager(world.store.engine, "nora", "nora correct horse battery")

    def attempt(address: str, password: str) -> httpx.Response:
        with httpx.Client(
            base_url=base, follow_redirects=False, timeout=10, headers={"X-Forwarded-For": address}
        ) as client:
            token = csrf(client.get("/review/login").text)
            return client.post(
                "/review/login", data={"name": "nora", "password": password, "csrf_token": token}
            )

    assert attempt("192.0.2.10", "nora correct horse battery").status_code == 303  # her laptop
    for i in range(10):
        assert attempt(f"198.51.100.{i + 20}", "guess").status_code == 401
    slowed = attempt("198.51.100.99", "guess")
    assert slowed.status_code == 429 and "for this name" in slowed.text
    assert 0 < int(slowed.headers["retry-after"]) <= 60
    assert attempt("198.51.100.98", "nora correct horse battery").status_code == 429
    assert attempt("192.0.2.10", "nora correct horse battery").status_code == 303
