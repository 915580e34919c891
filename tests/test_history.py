"""Caller history: who is calling, their open business, and what their last calls were about."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from voice import seeding
from voice.business import Business
from voice.history import CallerHistory, as_context, record_outcome
from voice.store import Store

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
    assert [o["order_number"] for o in profile.open_orders] == ["4521"]
    assert profile.greeting_hint == "Hi Maria, are you calling about order 4521?"
    assert [a["kind"] for a in profile.upcoming_appointments] == ["check-up"]
    context = CallerHistory.as_context(profile)
    assert "Open order: Order 4521 (Trail Running Shoes) shipped with UPS" in context
    assert "Tracking 1Z999AA10123456784" in context and "check-up with Dr. Elena Morales" in context
    assert len(context.splitlines()) == 3


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
