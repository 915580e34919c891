"""A real `callcentre serve` for the live console's tests, with Twilio's REST API stood in for,
a manager who can log in, and helpers to log in over HTTP and to read what the pages hold."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from twilio_standin import TwilioStandin

from review.auth import save_manager
from telephony.local_server import DEV_ACCOUNT_SID, LocalServer
from voice.store.calls import Store

MANAGER, PASSWORD, MANAGER_PHONE = "maria", "correct horse battery", "+15550107777"
OTHER_MANAGER = "omar"  # has no phone of their own: HUMAN_AGENT_NUMBER is rung
CALLER_ID = "+15550100000"  # TWILIO_CALLER_ID: one of the account's numbers
HUMAN = "+15550102030"


@contextmanager
def console_server(workdir: Path, **env: str) -> Iterator[tuple[LocalServer, TwilioStandin]]:
    """The server and the Twilio stand-in it talks to, with two managers."""
    server = LocalServer(workdir)
    with TwilioStandin(DEV_ACCOUNT_SID, server.token, caller_ids={CALLER_ID}) as twilio:
        server.extra_env.update(
            {
                "TWILIO_API_BASE": twilio.base_url,
                "TWILIO_CALLER_ID": CALLER_ID,
                "HUMAN_AGENT_NUMBER": HUMAN,
                "REVIEW_COOKIE_SECURE": "never",
                **env,
            }
        )
        with server:
            engine = Store(server.database_url).engine
            save_manager(engine, MANAGER, PASSWORD, phone=MANAGER_PHONE)
            save_manager(engine, OTHER_MANAGER, PASSWORD)
            engine.dispose()
            yield server, twilio


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(base: str, name: str = MANAGER) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=20)
    token = csrf(client.get("/review/login").text)
    reply = client.post(
        "/review/login", data={"name": name, "password": PASSWORD, "csrf_token": token}
    )
    assert reply.status_code == 303, reply.text[:300]
    return client
