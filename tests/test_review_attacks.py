"""The review pages of a real `callcentre serve` under what the security review tried:
out-of-range date filters and a guesser rotating X-Forwarded-For."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from sqlalchemy import create_engine

from review.auth import save_manager
from telephony.cli import proxy_options
from voice.settings import Settings

MANAGER, PASSWORD = "dates", "dates correct horse battery"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def manager(server) -> httpx.Client:
    save_manager(create_engine(server.database_url), MANAGER, PASSWORD)
    client = httpx.Client(base_url=server.http, timeout=20, follow_redirects=False)
    reply = client.post(
        "/review/login",
        data={
            "name": MANAGER,
            "password": PASSWORD,
            "csrf_token": csrf(client.get("/review/login").text),
        },
    )
    assert reply.status_code == 303, reply.text
    yield client
    client.close()


OUT_OF_RANGE = [
    "to=9999-12-31",
    "from=0001-01-05",
    "from=0001-01-01&to=9999-12-31",
    "from=1969-12-31",
    "to=3000-01-01",
]


@pytest.mark.parametrize("query", OUT_OF_RANGE)
@pytest.mark.parametrize("path", ["/review/calls", "/review/calls.csv", "/review/dashboard"])
def test_out_of_range_dates_are_a_clear_400(manager: httpx.Client, path: str, query: str):
    """Before: 500 for the pages, and a CSV cut off mid-stream after its 200."""
    answer = manager.get(f"{path}?{query}")
    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    assert "Dates must be between 1970-01-01 and 2999-12-31" in answer.text
    if path.endswith(".csv"):
        assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("path", ["/review/calls", "/review/calls.csv", "/review/dashboard"])
def test_the_widest_allowed_range_answers(manager: httpx.Client, path: str):
    answer = manager.get(f"{path}?from=1970-01-01&to=2999-12-31")
    assert answer.status_code == 200, answer.text[:300]
    if path.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0][0] == "call_sid" and answer.text.endswith("\n")


def test_unreadable_dates_are_still_ignored(manager: httpx.Client):
    assert manager.get("/review/calls?from=banana&to=2026-13-45").status_code == 200


def test_rotating_x_forwarded_for_does_not_reset_the_throttle(server):
    """The attack: uvicorn believed X-Forwarded-For from 127.0.0.1, so through a tunnel agent or
    a pass-through proxy on the host each guess could claim a new address and never be
    throttled. With TRUSTED_PROXIES unset (the default) the header is ignored: the sixth
    wrong password for a name from this address is refused, whatever the header says."""
    statuses = []
    for i in range(7):
        with httpx.Client(
            base_url=server.http,
            timeout=20,
            follow_redirects=False,
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
        ) as client:
            token = csrf(client.get("/review/login").text)
            statuses.append(
                client.post(
                    "/review/login",
                    data={"name": "rotator", "password": f"guess {i}", "csrf_token": token},
                ).status_code
            )
    assert statuses == [401] * 5 + [429] * 2
    refusals = [
        line
        for line in server.log().splitlines()
        if "review login refused" in line and '"address": "127.0.0.1"' in line
    ]
    assert refusals  # logged with the real peer, not a forwarded address


def test_trusted_proxies_are_off_unless_configured():
    assert proxy_options(Settings(_env_file=None)) == {
        "proxy_headers": False,
        "forwarded_allow_ips": "",
    }
    configured = Settings(_env_file=None, TRUSTED_PROXIES=" 10.0.0.5, 10.1.0.0/16 ")
    assert proxy_options(configured) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.5,10.1.0.0/16",
    }
