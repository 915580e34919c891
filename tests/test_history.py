"""Caller history: who is calling, their open business, and what their last calls were about.

The last test places two real calls from one number through the server (about a minute).
"""

from __future__ import annotations

import asyncio
import time as clock
from datetime import date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from telephony.simulator import simulate_call
from voice.business import Business
from voice.store import seeding
from voice.store.calls import Store
from voice.store.history import CallerHistory, as_context, record_outcome

DATA = Path(__file__).resolve().parent.parent / "data" / "business"
TODAY = date(2026, 3, 4)
MARIA = "+15551234567"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    seeding.seed(store.engine, DATA, today=TODAY)
    return store


@pytest.fixture
def history(store: Store) -> CallerHistory:
    business = Business(store.engine, now=lambda: datetime.combine(TODAY, time(9)))
    return CallerHistory(store.engine, business)


def start(store: Store, sid: str, caller: str) -> None:
    store.start_call(sid, caller, f"MZ{sid}", recording_path="", events_path="")


def test_second_call_remembers_the_first(store: Store, history: CallerHistory):
    start(store, "CA1", MARIA)
    first = history.profile(MARIA, exclude_call_sid="CA1")
    assert first is not None and first.recent_calls == []
    store.finish_call("CA1", "hangup")
    summary = "Asked where order 4521 is; told it ships with UPS and arrives Saturday."
    assert record_outcome(store.engine, "CA1", summary, "resolved", ["order status", "shipping"])

    start(store, "CA2", MARIA)
    second = history.profile(MARIA, exclude_call_sid="CA2")
    assert second is not None
    [previous] = second.recent_calls
    assert (previous.call_sid, previous.summary, previous.outcome) == ("CA1", summary, "resolved")
    assert previous.topics == ["order status", "shipping"]
    context = as_context(second)
    assert summary in context and "(resolved)" in context and "Maria Lopez" in context
    # The call in progress has no outcome yet, so it is not history even when not excluded.
    assert [c.call_sid for c in history.profile(MARIA).recent_calls] == ["CA1"]


def test_profile_of_a_customer(history: CallerHistory):
    profile = history.profile("(555) 123-4567")
    assert profile is not None
    assert (profile.name, profile.phone, profile.first_name) == ("Maria Lopez", MARIA, "Maria")
    assert [o.number for o in profile.open_orders] == ["4521"]
    assert profile.greeting_hint == "Hi Maria, are you calling about order 4521?"
    assert [a.kind for a in profile.upcoming_appointments] == ["check-up"]
    context = CallerHistory.as_context(profile)
    assert "Open order: Order 4521 (Trail Running Shoes) shipped with UPS" in context
    assert "Tracking 1Z999AA10123456784" in context and "check-up with Dr. Elena Morales" in context
    assert len(context.splitlines()) == 3


def test_a_returning_customer_is_welcomed_back(store: Store, history: CallerHistory):
    for sid, phone in (("CA1", MARIA), ("CA2", "+15550119090")):
        start(store, sid, phone)
        store.finish_call(sid, "hangup")
        record_outcome(store.engine, sid, "Checked an order.", "resolved", ["order_status"])
    maria = history.profile(MARIA)
    assert maria is not None
    assert maria.greeting_hint == "Hi Maria, welcome back. Are you calling about order 4521?"
    hannah = history.profile("+15550119090")  # no open order to ask about
    assert hannah is not None and hannah.greeting_hint == "Hi Hannah, welcome back."


def test_greeting_without_a_single_open_order(history: CallerHistory):
    aisha = history.profile("+15550102030")  # two open orders: don't guess
    assert aisha is not None and aisha.greeting_hint == "Hi Aisha."
    hannah = history.profile("+15550119090")  # none open
    assert hannah is not None and hannah.greeting_hint == "Hi Hannah."


def test_only_the_last_three_calls_newest_first(store: Store, history: CallerHistory):
    for i in range(5):
        start(store, f"CA{i}", "+15550001111")
        store.finish_call(f"CA{i}", "hangup")
        record_outcome(store.engine, f"CA{i}", f"call {i}", "resolved", "billing")
    profile = history.profile("+15550001111")
    assert profile is not None
    assert [c.summary for c in profile.recent_calls] == ["call 4", "call 3", "call 2"]


def test_unknown_numbers(store: Store, history: CallerHistory):
    assert history.profile("+15557654321") is None
    assert as_context(None) == ""
    start(store, "CA9", "+15557654321")  # not a customer, but has called before
    store.finish_call("CA9", "hangup")
    record_outcome(store.engine, "CA9", "Asked for opening hours.", "abandoned", [])
    stranger = history.profile("+15557654321")
    assert stranger is not None and stranger.customer_id is None and stranger.name == ""
    assert stranger.greeting_hint == "Welcome back." and stranger.open_orders == []
    assert "not a customer" in as_context(stranger)


def test_record_outcome_checks_its_input(store: Store):
    assert not record_outcome(store.engine, "CA404", "nothing", "resolved", [])
    with pytest.raises(ValueError, match="outcome"):
        record_outcome(store.engine, "CA404", "nothing", "happy", [])


def calls_from(database_url: str, phone: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            return db.execute(
                text("select count(*) from calls where caller = :p"), {"p": phone}
            ).scalar_one()
    finally:
        engine.dispose()


def stored_call(database_url: str, call_sid: str, timeout: float = 20.0) -> tuple[dict, list]:
    """The call's row once its outcome is written (at hang-up, off the event loop), and its
    turns in order."""
    engine = create_engine(database_url)
    deadline = clock.monotonic() + timeout
    try:
        while True:
            with engine.connect() as db:
                call = (
                    db.execute(text("select * from calls where call_sid = :s"), {"s": call_sid})
                    .mappings()
                    .one_or_none()
                )
                turns = db.execute(
                    text('select role, text from turns where call_sid = :s order by "index"'),
                    {"s": call_sid},
                ).all()
            if (call and call["outcome"]) or clock.monotonic() > deadline:
                assert call is not None and call["outcome"], call
                return dict(call), [tuple(t) for t in turns]
            clock.sleep(0.2)
    finally:
        engine.dispose()


async def test_a_second_call_from_the_same_number_is_greeted_with_the_first(server, samples):
    """End to end: a resolved call stores its summary, outcome and topics; the next call from
    that number is greeted from them."""
    earlier = await asyncio.to_thread(calls_from, server.database_url, MARIA)
    first = await simulate_call(
        [samples / "order_status.wav"],
        url=server.media_url,
        settings=server.settings,
        caller=MARIA,
        transcribe=False,
    )
    call, turns = await asyncio.to_thread(stored_call, server.database_url, first.call_sid)
    if earlier == 0:  # the server's first call from Maria (other tests may have called before)
        assert "welcome back" not in turns[0][1], turns[0]
    assert call["outcome"] == "resolved", turns
    assert call["summary"] == "Maria Lopez: checked order 4521 (shipped).", turns
    assert call["topics"] == "order_status"
    assert "4521" in turns[-1][1] and "UPS" in turns[-1][1]  # the answer that resolved it

    second = await simulate_call(
        [], url=server.media_url, settings=server.settings, caller=MARIA, transcribe=False
    )  # hears the greeting, hangs up
    _, turns = await asyncio.to_thread(stored_call, server.database_url, second.call_sid)
    assert turns[0] == (
        "agent",
        "Thanks for calling Acme support, this is Sam. Hi Maria, "
        "welcome back. Are you calling about order 4521?",
    )
