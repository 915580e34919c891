"""The turn manager in-process on a seeded SQLite business: no audio, the real embedder.

Each test is a short call as text (what Whisper would write), checking what the agent says
and what changed in the database; many come from failures of the scenario suite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import select
from sqlalchemy.orm import Session

from voice import seeding
from voice.business import Appointment, Business, Card, Return
from voice.embeddings import shared_embedder
from voice.history import CallerHistory
from voice.knowledge import DEFAULT_KNOWLEDGE_DIR, KnowledgeBase
from voice.store import Store
from voice.turn_manager import TurnManager

TODAY = date(2026, 3, 4)  # a Wednesday; the seed data is relative to it
NOW = datetime.combine(TODAY, time(9, 0))
MARIA, JOHN, AISHA, WEI, OLGA, HANNAH = ("+15551234567", "+15550001111", "+15550102030",
                                         "+15550147788", "+15550193344", "+15550119090")
KWAME, STRANGER = "+15550125566", "+15559870000"


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase(DEFAULT_KNOWLEDGE_DIR, shared_embedder(),
                         tmp_path_factory.mktemp("kb") / "index")


@pytest.fixture
def engine(tmp_path: Path) -> sqlalchemy.Engine:
    engine = Store(f"sqlite:///{tmp_path / 'business.db'}").engine
    seeding.seed(engine, seeding.DEFAULT_DATA_DIR, today=TODAY)
    return engine


@pytest.fixture
def call(engine: sqlalchemy.Engine, knowledge: KnowledgeBase) -> Callable[[str], TurnManager]:
    business = Business(engine, now=lambda: NOW)
    history = CallerHistory(engine, business)

    def start(phone: str) -> TurnManager:
        return TurnManager(business, knowledge, shared_embedder(), history.profile(phone), phone,
                           today=TODAY)

    return start


def rows(engine: sqlalchemy.Engine, query) -> list:
    with Session(engine) as db:
        return list(db.scalars(query))


# -- orders ----------------------------------------------------------------------------------


def test_yes_to_the_greeting_answers_about_the_suggested_order(call):
    turns = call(MARIA)
    assert "order 4521" in turns.greeting("Hello.")
    plan = turns.handle("Yes, that's the one.")
    assert plan.intent == "order_status" and "4521" in plan.say and "UPS" in plan.say


def test_missing_order_number_is_asked_for_then_typed_on_the_keypad(call):
    turns = call(STRANGER)
    assert turns.handle("I want to check on my order.").say == "What's the order number?"
    plan = turns.handle("", "4521#")
    assert "Trail Running Shoes" in plan.say


def test_for_me_after_a_number_read_digit_by_digit_is_not_a_digit(call):
    plan = call(WEI).handle("Can you check order four four eight eight for me?")
    assert "Order 4488" in plan.say and "delivered" in plan.say


def test_a_hyphenated_answer_to_which_order_is_one_number(call):
    turns = call(AISHA)
    assert turns.handle("Where is my order?").say == "Is that order 4601 or 4533?"
    assert "Order 4601" in turns.handle("46-01.").say


def test_the_other_order_after_the_answer_gives_the_other_one(call):
    turns = call(AISHA)
    turns.handle("Where is my order?")
    turns.handle("Forty six oh one.")
    plan = turns.handle("Know the other order.")  # Whisper's spelling of a leading "No"
    assert "Order 4533" in plan.say and "FedEx" in plan.say


def test_a_correction_after_the_answer_looks_up_the_new_number(call):
    turns = call(OLGA)
    assert "Chef's Knife" in turns.handle("What's the status of order four five five five?").say
    assert "Cast Iron Skillet" in turns.handle("Sorry, I meant order four three zero two.").say


@pytest.mark.parametrize(("heard", "order"), [
    ("I want to send back the speaker from Order 44475.", "4475"),  # a doubled digit
    ("Where is order 461?", "4610"),  # a dropped one
])
def test_a_number_one_digit_off_finds_the_callers_own_order(call, heard, order):
    assert f"order {order}" in call(JOHN).handle(heard).say.lower()


def test_a_number_one_digit_off_one_order_finds_it_for_an_unknown_caller(call):
    turns = call(STRANGER)
    turns.handle("I need to return something I bought.")
    assert "order 4410, the Running Jacket" in turns.handle("The order number is 44410.").say


def test_a_number_near_none_or_two_own_orders_is_asked_again(call):
    assert "couldn't find order 9999" in call(MARIA).handle("where is order 9999").say
    # Kwame has 4410 and 4590: "4510" is one digit from both, so neither is guessed.
    assert "couldn't find order 4510" in call(KWAME).handle("where is order 4510").say
    # Not Kwame's own, and 4511 and 4410 are both a digit from "4411".
    assert "couldn't find order 4411" in call(STRANGER).handle("where is order 4411").say


def test_an_answer_that_is_not_understood_asks_again(call):
    turns = call(STRANGER)
    turns.handle("Where is my order?")
    plan = turns.handle("Hmm, let me see here.")
    assert plan.failed and "order number" in plan.say and not plan.use_llm
    assert "Order 4521" in turns.handle("four five two one").say


# -- returns ---------------------------------------------------------------------------------


def test_a_return_for_an_undelivered_order_is_refused_without_confirming(call, engine):
    turns = call(MARIA)
    plan = turns.handle("I want to return order four five two one.")
    assert "hasn't been delivered" in plan.say and plan.failed
    assert turns.state.pending is None
    assert rows(engine, select(Return).where(Return.order_number == "4521")) == []


def test_a_confirmed_return_is_started(call, engine):
    turns = call(MARIA)
    assert "shall I start a return for order 4388" in turns.handle(
        "I'd like to return the coffee set from order four three eight eight.").say
    assert "$49.00" in turns.handle("Yes please.").say
    assert len(rows(engine, select(Return).where(Return.order_number == "4388"))) == 1


def test_no_at_the_confirmation_starts_nothing(call, engine):
    turns = call(JOHN)
    turns.handle("I want to send back the speaker from order four four seven five.")
    assert "won't" in turns.handle("No, don't do that.").say
    assert rows(engine, select(Return).where(Return.order_number == "4475")) == []


def test_a_return_without_a_number_offers_the_one_returnable_order(call):
    # Hannah has no open order; her delivered espresso machine is the one she can return.
    plan = call(HANNAH).handle("I need to return something.")
    assert "order 4444" in plan.say and "Espresso Machine" in plan.say


# -- banking ---------------------------------------------------------------------------------


def test_with_two_active_cards_the_agent_asks_which_before_confirming(call, engine):
    turns = call(AISHA)
    plan = turns.handle("My credit card was stolen.")
    assert "5512" in plan.say and "9087" in plan.say and turns.state.pending is None
    assert "ending in 9087" in turns.handle("The one ending in 908.7.").say  # as Whisper wrote
    assert "blocked" in turns.handle("Yes.").say
    status = {c.last4: c.status for c in rows(engine, select(Card))}
    assert status["9087"] == "blocked" and status["5512"] == "active"


def test_no_actually_at_the_confirmation_is_a_no(call, engine):
    turns = call(OLGA)
    assert "ending in 6620" in turns.handle("Please freeze my card.").say
    assert "won't" in turns.handle("No, actually I found it.").say
    assert rows(engine, select(Card.status).where(Card.last4 == "6620")) == ["active"]


def test_a_transfer_is_refused_politely(call):
    plan = call(JOHN).handle("I'd like to transfer two hundred dollars to my savings.")
    assert plan.intent == "transfer_money" and "can't move money" in plan.say


# -- clinics ---------------------------------------------------------------------------------


def test_a_cleaning_is_booked_as_a_dental_cleaning(call, engine):
    turns = call(WEI)
    plan = turns.handle("Can I book a dental cleaning on Wednesday at two PM?")
    assert plan.say == "Shall I book you a dental cleaning on Wednesday, March 11 at 2:00 PM?"
    assert "booked" in turns.handle("Yes, that's right.").say
    booked = rows(engine, select(Appointment).where(Appointment.kind == "dental cleaning",
                                                    Appointment.status == "booked"))
    assert datetime(2026, 3, 11, 14, 0) in [a.starts_at for a in booked]


def test_a_kind_no_clinic_offers_is_named_as_such(call):
    plan = call(MARIA).handle("I'd like to book an x-ray.")
    assert "don't offer x-ray" in plan.say and "dental cleaning" in plan.say


def test_a_missing_day_is_asked_for_then_free_times_are_offered(call):
    turns = call(MARIA)
    assert turns.handle("I'd like to book a vaccination.").say == "Which day would suit you?"
    plan = turns.handle("Tuesday, please.")
    assert plan.say.startswith("On Tuesday, March 10 I have 8:00 AM")
