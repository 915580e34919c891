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

from voice.business.service import Appointment, Business, Card, Customer, Return
from voice.dialogue.knowledge import DEFAULT_KNOWLEDGE_DIR, KnowledgeBase
from voice.dialogue.policy import TurnManager
from voice.engines.embeddings import shared_embedder
from voice.store import seeding
from voice.store.calls import Store
from voice.store.history import CallerHistory

TODAY = date(2026, 3, 4)  # a Wednesday; the seed data is relative to it
NOW = datetime.combine(TODAY, time(9, 0))
MARIA, JOHN, AISHA, WEI, OLGA, HANNAH = (
    "+15551234567",
    "+15550001111",
    "+15550102030",
    "+15550147788",
    "+15550193344",
    "+15550119090",
)
KWAME, STRANGER = "+15550125566", "+15559870000"


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase(
        DEFAULT_KNOWLEDGE_DIR, shared_embedder(), tmp_path_factory.mktemp("kb") / "index"
    )


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
        return TurnManager(
            business, knowledge, shared_embedder(), history.profile(phone), phone, today=TODAY
        )

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
    assert plan.say.startswith("Order 4521 has shipped and is due Saturday, March 7.")


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


@pytest.mark.parametrize(
    ("heard", "order"),
    [
        ("I want to send back the speaker from Order 44475.", "4475"),  # a doubled digit
        ("Where is order 461?", "4610"),  # a dropped one
    ],
)
def test_a_number_one_digit_off_finds_the_callers_own_order(call, heard, order):
    assert f"order {order}" in call(JOHN).handle(heard).say.lower()


def test_an_unknown_caller_gets_no_guess_at_a_number_one_digit_off(call):
    # 4410 is Kwame's: a guess would tell a stranger about an order they never named.
    assert "couldn't find order 44410." in call(STRANGER).handle("Where is order 44410?").say


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


# -- order privacy: details only to the account holder ---------------------------------------


def test_a_known_caller_hears_nothing_about_someone_elses_order(call):
    turns = call(MARIA)
    plan = turns.handle("Where is order four five three three?")  # Aisha's yoga mat
    assert plan.say == (
        "I couldn't find order 4533 on your account. Could you read me the "
        "number again, or type it on your keypad?"
    )
    assert plan.failed and plan.facts == {}
    # Word for word what a number nobody has gets: the order's existence isn't confirmed.
    nobody = call(MARIA).handle("Where is order four five three nine?").say
    assert nobody == plan.say.replace("4533", "4539")


def test_a_known_callers_near_miss_never_lands_on_someone_elses_order(call):
    # 4534 is one digit from Aisha's 4533 but from none of Maria's own orders.
    assert (
        "couldn't find order 4534 on your account" in call(MARIA).handle("Where is order 4534?").say
    )


def test_an_unknown_caller_hears_only_status_and_delivery_date(call):
    plan = call(STRANGER).handle("Where is order four five three three?")
    assert plan.say.startswith("Order 4533 has shipped and is due Friday, March 6. ")
    assert "phone number on the account" in plan.say
    for private in ("Yoga Mat", "FedEx", "Aisha", "$", "781234500112"):
        assert private not in plan.say
    assert set(plan.facts) == {"order_number", "status", "eta", "summary"}
    delivered = call(STRANGER).handle("What about order 4488?")  # Wei's keyboard
    assert delivered.say.startswith("Order 4488 was delivered Saturday, February 28.")
    assert "Keyboard" not in delivered.say and "UPS" not in delivered.say


def test_an_unknown_caller_cannot_start_a_return(call, engine):
    turns = call(STRANGER)
    plan = turns.handle("I want to return order four four one zero.")  # Kwame's jacket
    assert "can't find an account for the number you're calling from" in plan.say
    assert "Running Jacket" not in plan.say and turns.state.pending is None
    assert rows(engine, select(Return).where(Return.order_number == "4410")) == []


def test_a_complaint_carries_no_facts_of_someone_elses_order(call):
    turns = call(MARIA)
    turns.state.slots["order_number"] = "4533"
    assert turns._order_facts_if_any() == {}
    turns.state.slots["order_number"] = "4521"
    assert turns._order_facts_if_any()["items"] == "Trail Running Shoes"


# -- returns ---------------------------------------------------------------------------------


def test_a_return_for_an_undelivered_order_is_refused_without_confirming(call, engine):
    turns = call(MARIA)
    plan = turns.handle("I want to return order four five two one.")
    assert "hasn't been delivered" in plan.say and plan.failed
    assert turns.state.pending is None
    assert rows(engine, select(Return).where(Return.order_number == "4521")) == []


def test_a_confirmed_return_is_started(call, engine):
    turns = call(MARIA)
    assert (
        "shall I start a return for order 4388"
        in turns.handle("I'd like to return the coffee set from order four three eight eight.").say
    )
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
    booked = rows(
        engine,
        select(Appointment).where(
            Appointment.kind == "dental cleaning", Appointment.status == "booked"
        ),
    )
    assert datetime(2026, 3, 11, 14, 0) in [a.starts_at for a in booked]


def test_a_kind_no_clinic_offers_is_named_as_such(call):
    plan = call(MARIA).handle("I'd like to book an x-ray.")
    assert "don't offer x-ray" in plan.say and "dental cleaning" in plan.say


def test_a_missing_day_is_asked_for_then_free_times_are_offered(call):
    turns = call(MARIA)
    assert turns.handle("I'd like to book a vaccination.").say == "Which day would suit you?"
    plan = turns.handle("Tuesday, please.")
    assert plan.say.startswith("On Tuesday, March 10 I have 8:00 AM")


# -- which appointment: active ones only, and ask when there are several ----------------------


SOFIA = "+15550168899"  # a cancelled dental check-up on Monday the 9th, a booked one on the 13th


def active_appointments(engine: sqlalchemy.Engine, phone: str) -> list[tuple[str, datetime]]:
    query = (
        select(Appointment)
        .join(Customer, Appointment.customer_id == Customer.id)
        .where(Customer.phone == phone, Appointment.status.in_(("booked", "moved")))
        .order_by(Appointment.starts_at)
    )
    return [(a.kind, a.starts_at) for a in rows(engine, query)]


def test_cancel_skips_an_already_cancelled_appointment(call, engine):
    turns = call(SOFIA)
    plan = turns.handle("I need to cancel my appointment.")
    assert plan.say == "Shall I cancel your dental check-up on Friday, March 13 at 10:30 AM?"
    assert "I've cancelled your dental check-up on Friday, March 13" in turns.handle("Yes.").say
    assert active_appointments(engine, SOFIA) == []


def test_move_finds_the_booked_appointment_not_the_cancelled_one(call, engine):
    turns = call(SOFIA)
    plan = turns.handle("I'd like to move my appointment to Thursday at three PM.")
    assert plan.say == "Shall I move your dental check-up on Thursday, March 5 at 3:00 PM?"
    assert "I've moved your dental check-up" in turns.handle("Yes please.").say
    assert active_appointments(engine, SOFIA) == [("dental check-up", datetime(2026, 3, 5, 15, 0))]


@pytest.fixture
def maria_has_two(engine: sqlalchemy.Engine) -> Callable[[], None]:
    """Maria's check-up on Monday the 9th, and a vaccination booked for Tuesday the 10th."""
    business = Business(engine, now=lambda: NOW)
    maria = business.customer_by_phone(MARIA)
    assert business.book_appointment(maria.id, datetime(2026, 3, 10, 11, 0), "vaccination").ok
    assert [k for k, _ in active_appointments(engine, MARIA)] == ["check-up", "vaccination"]


WHICH = (
    "You have two appointments: a check-up on Monday, March 9 at 10:00 AM and a "
    "vaccination on Tuesday, March 10 at 11:00 AM. Which one would you like to {}?"
)


def test_with_two_appointments_the_agent_asks_which_and_carries_the_answer(
    call, engine, maria_has_two
):
    turns = call(MARIA)
    assert turns.handle("I need to cancel my appointment.").say == WHICH.format("cancel")
    plan = turns.handle("The vaccination.")
    assert plan.say == "Shall I cancel your vaccination on Tuesday, March 10 at 11:00 AM?"
    assert "cancelled" in turns.handle("Yes.").say
    assert active_appointments(engine, MARIA) == [("check-up", datetime(2026, 3, 9, 10, 0))]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("The one on Tuesday.", "vaccination"),
        ("The first one.", "check-up"),
        ("The check-up please.", "check-up"),
    ],
)
def test_which_appointment_is_answered_by_day_order_or_kind(call, maria_has_two, answer, kind):
    turns = call(MARIA)
    assert turns.handle("I want to move my appointment.").say == WHICH.format("move")
    # The day that named the appointment is not the day to move it to: that is asked next.
    assert turns.handle(answer).say == "Which day would suit you?"
    plan = turns.handle("Thursday at three PM.")
    assert plan.say == f"Shall I move your {kind} on Thursday, March 5 at 3:00 PM?"


def test_a_kind_or_day_in_the_request_picks_the_appointment_at_once(call, maria_has_two):
    assert call(MARIA).handle("Please cancel my vaccination.").say == (
        "Shall I cancel your vaccination on Tuesday, March 10 at 11:00 AM?"
    )
    assert call(MARIA).handle("Cancel my appointment on Monday.").say == (
        "Shall I cancel your check-up on Monday, March 9 at 10:00 AM?"
    )


def test_no_the_other_appointment_at_the_confirmation(call, maria_has_two):
    turns = call(MARIA)
    turns.handle("Please cancel my vaccination.")
    assert turns.handle("No, the other one.").say == (
        "Shall I cancel your check-up on Monday, March 9 at 10:00 AM?"
    )


def test_a_slot_taken_before_the_yes_offers_other_times_for_the_same_booking(call, engine):
    turns = call(WEI)
    plan = turns.handle("Can I book a dental cleaning on Wednesday at two PM?")
    assert plan.say == "Shall I book you a dental cleaning on Wednesday, March 11 at 2:00 PM?"
    business = Business(engine, now=lambda: NOW)  # meanwhile, two other calls book both dentists
    for phone in (MARIA, JOHN):
        other = business.customer_by_phone(phone)
        assert business.book_appointment(other.id, datetime(2026, 3, 11, 14), "cleaning").ok
    taken = turns.handle("Yes, that's right.")
    assert taken.failed and "isn't available" in taken.say and "3:00 PM" in taken.say
    assert turns.handle("Three PM then.").say == (
        "Shall I book you a dental cleaning on Wednesday, March 11 at 3:00 PM?"
    )


def test_the_models_tools_name_which_appointment(call, maria_has_two):
    """With the OpenAI backend the model calls move/cancel as tools: its arguments pick the
    appointment as the caller's words would, and without them the caller is asked."""
    assert call(MARIA).plan_task("cancel_appointment", {}).say == WHICH.format("cancel")
    by_day = call(MARIA).plan_task("cancel_appointment", {"date": "2026-03-10"})
    assert by_day.say == "Shall I cancel your vaccination on Tuesday, March 10 at 11:00 AM?"
    moved = call(MARIA).plan_task(
        "move_appointment", {"appointment_kind": "check-up", "date": "2026-03-05", "time": "15:00"}
    )
    assert moved.say == "Shall I move your check-up on Thursday, March 5 at 3:00 PM?"
