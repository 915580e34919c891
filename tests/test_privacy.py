"""Secrets callers give (a card number typed on the keypad, codes, their own phone number) are
kept nowhere in writing: not in the JSONL, the log, the database, the call page or an export.

The attack from the security review: a card number typed on the keypad was taken as an order
number, read back ("I couldn't find order ..."), and stored, logged, shown and exported in full.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, text

from review.auth import save_manager
from telephony.simulator import simulate_call
from voice.logs import configure_logging
from voice.privacy import mask_text, mask_value
from voice.session import CallSession
from voice.store.calls import Store
from voice.store.writer import get_writer

CARD = "4111111111111111"
CALLER = "+15551234567"
STRANGER = "+15559870001"  # not a customer: the agent asks for the order number
MANAGER, PASSWORD = "privacy", "privacy correct horse battery"


def leaks(blob: str, secret: str = CARD) -> list[str]:
    """Where `secret` shows in `blob`: whole, grouped by spaces, dashes or dots, or spoken."""
    digits = re.escape(secret)
    grouped = r"[ .-]?".join(re.escape(d) for d in secret)
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    spoken = r"\W+".join(words[int(d)] for d in secret[:8])
    return [
        m.group() for pattern in (digits, grouped, spoken) for m in re.finditer(pattern, blob, re.I)
    ]


@pytest.mark.parametrize(
    "said, kept",
    [
        ("my card is 4111 1111 1111 1234", "my card is [number ending 1234]"),
        ("card 4111-1111-1111-1234 please", "card [number ending 1234] please"),
        ("it's 4111.1111.1111.1234", "it's [number ending 1234]"),
        ("4111111111111111#", "[number ending 1111]#"),
        ("four one one one one one one one one one one one one two three four", None),
        ("my social security number is 123-45-6789", "my social security number is [SSN]"),
        ("ssn 123 45 6789", "ssn [SSN]"),
        ("security 999", "security [secret]"),
        ("the security code is 999", "the security code is [secret]"),
        ("and my pin is four three two one", "and my pin is [secret]"),
        ("account 1234567", "account [number ending 4567]"),
        ("call me on +15551234567", "call me on +1 555 ••• 4567"),
        ("or (555) 123-4567", "or +1 555 ••• 4567"),
        (
            "GET /review/calls.csv?caller=%2B15551234567",
            "GET /review/calls.csv?caller=+1 555 ••• 4567",
        ),
        # What the agent must be able to say back stays.
        ("the card ending in 4821 is blocked", "the card ending in 4821 is blocked"),
        ("where is order 4521", "where is order 4521"),
        ("your balance is $15,200.00", "your balance is $15,200.00"),
        ("on 2026-12-05 at 10:30", "on 2026-12-05 at 10:30"),
        ("close code 1008", "close code 1008"),
        ("CA0123456789abcdef0123456789abcdef", "CA0123456789abcdef0123456789abcdef"),
    ],
)
def test_mask_text(said: str, kept: str | None) -> None:
    masked = mask_text(said)
    if kept is not None:
        assert masked == kept
    assert not leaks(masked, "4111111111")
    assert mask_text(masked) == masked  # masking what is masked changes nothing


def test_mask_value_reaches_every_string() -> None:
    event = {
        "sentence": f"I couldn't find order {CARD}.",
        "problems": [f"unsupported number {CARD}"],
        "values": {"order_id": CARD, "nested": [{"x": CARD}]},
        "call_sid": "CA1234567890123456",
        "n": 4111111111111111,  # an integer as long as a card number
        "t": 12.5,
        "turns": [1, 2],
    }
    masked = mask_value(event, keep={"call_sid"}.__contains__)
    assert not leaks(json.dumps(masked))
    assert masked["call_sid"] == "CA1234567890123456"
    assert (masked["t"], masked["turns"]) == (12.5, [1, 2])


def test_every_event_and_turn_is_masked_once_where_it_is_written(tmp_path, capsys) -> None:
    """The recorder masks every string of every event; the session logs and stores that."""
    configure_logging("INFO", as_json=True)  # the server's log lines, on this test's stderr
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    session = CallSession("CAprivacy", "MZprivacy", CALLER, tmp_path, store)
    session.event("guard_rejected", sentence=f"Order {CARD} is on its way.", problems=[CARD])
    session.event("keypad_entry", digits=CARD + "#")
    grouped = f"{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}"
    session.caller_turn(f"my card is {grouped}", 0, 1, "en")
    session.agent_turn(f"I couldn't find order {CARD}.", 1, 2, 500.0, False)
    session.event("escalation", rule="asked", reason=f"asked about {CARD}")
    session.close("completed")
    assert get_writer().flush("CAprivacy", 10)
    jsonl = session.recorder.events_path.read_text()
    assert not leaks(jsonl) and CALLER not in jsonl
    assert "[number ending 1111]" in jsonl and "+1 555 ••• 4567" in jsonl
    logged = capsys.readouterr().err
    assert "guard_rejected" in logged and "CAprivacy" in logged
    assert not leaks(logged) and CALLER not in logged
    with store.engine.connect() as db:
        turns = " ".join(db.scalars(text("select text from turns")))
        assert db.scalar(text("select caller from calls")) == CALLER  # history needs it
    assert not leaks(turns) and "[number ending 1111]" in turns


async def test_a_card_number_typed_on_the_keypad_is_kept_nowhere(server, samples) -> None:
    """The attack, against the real server: a card number typed where an order number was
    asked for. Grepped for afterwards in the JSONL, the server's log, the database, the call
    page and every export (JSON, text, CSV): found in none, nor the caller's full number."""
    # An unknown number asks about an order; asked for its number, types the card's.
    result = await simulate_call(
        [samples / "hello.wav", f"dtmf:{CARD}#"],
        url=server.media_url,
        settings=server.settings,
        caller=STRANGER,
        transcribe=False,
    )
    sid = result.call_sid
    engine = create_engine(server.database_url)
    save_manager(engine, MANAGER, PASSWORD)
    assert get_events_path(server, sid).exists()

    jsonl = get_events_path(server, sid).read_text()
    assert "keypad_entry" in jsonl  # the digits did arrive
    assert "[number ending 1111]" in jsonl  # ...and were read back, masked
    assert not leaks(jsonl), leaks(jsonl)
    assert STRANGER not in jsonl

    log = server.log()
    assert sid in log
    assert not leaks(log), leaks(log)
    assert STRANGER not in log and STRANGER.lstrip("+") not in log

    with engine.connect() as db:
        stored = " ".join(
            str(v)
            for row in db.execute(text("select * from turns where call_sid=:s"), {"s": sid})
            for v in row
        ) + " ".join(
            str(v)
            for v in db.execute(text("select * from calls where call_sid=:s"), {"s": sid}).one()
        )
    assert not leaks(stored), leaks(stored)

    with httpx.Client(base_url=server.http, timeout=20, follow_redirects=False) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/review/login").text)
        client.post(
            "/review/login",
            data={"name": MANAGER, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        answers = {
            path: client.get(path)
            for path in (
                f"/review/calls/{sid}",
                f"/review/calls/{sid}/transcript.json",
                f"/review/calls/{sid}/transcript.txt",
                f"/review/calls.csv?caller={quote(STRANGER)}",
                f"/review/calls?q={CARD[-4:]}",
            )
        }
    for path, answer in answers.items():
        assert answer.status_code == 200, (path, answer.status_code)
        assert not leaks(answer.text), (path, leaks(answer.text))
        assert STRANGER not in answer.text and STRANGER[2:] not in answer.text, path
    exported = answers[f"/review/calls/{sid}/transcript.json"].json()
    assert any(e["type"] == "keypad_entry" for e in exported["events"])
    rows = list(
        csv.DictReader(io.StringIO(answers[f"/review/calls.csv?caller={quote(STRANGER)}"].text))
    )
    assert sid in {row["call_sid"] for row in rows}


def get_events_path(server, sid: str) -> Path:
    return next(server.recordings.rglob(f"{sid}.jsonl"))
