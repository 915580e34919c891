"""Dialogue safety and state, each test a short call in text.

The turn manager runs in-process with the real trained reader and the real embedder, on the
sample business seeded into a SQLite file relative to Monday 2026-12-07 (clock 10:00). What the
agent says and what changed in the database are both checked: a state-changing action happens
only on an explicit yes to the question that named it in the agent's immediately preceding
turn. The hand-over tests go through `voice.call.text` (the whole brain of a phone call:
understanding, state, sentiment, escalation policy).

The caller turns are written for this file; the comments on the phone numbers below say who
owns what on that day.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import select
from sqlalchemy.orm import Session

from telephony.evaluation import reset_business
from voice.business import Business
from voice.call.text import TextCalls
from voice.dialogue.classifier import TurnClassifier
from voice.dialogue.knowledge import DEFAULT_KNOWLEDGE_DIR, KnowledgeBase
from voice.dialogue.plan import OFFER_PERSON, TurnPlan
from voice.dialogue.policy import TurnManager
from voice.dialogue.understanding import Reader
from voice.engines.embeddings import shared_embedder
from voice.settings import Settings
from voice.store import seeding
from voice.store.calls import Store
from voice.store.history import CallerHistory
from voice.store.schema import Appointment, Card, Customer, Return
from voice.store.schema import Call as CallRow

TODAY = date(2026, 12, 7)  # a Monday
NOW = datetime.combine(TODAY, time(10, 0))

MARIA = "+15551234567"  # shoes 4521 shipped, coffee set 4388 delivered, blanket 4102 (October);
#                         cards 7733 active, 1190 blocked; check-up Sat 12th 10:00
JOHN = "+15550001111"  # 4610 processing, speaker 4475 delivered, watch band 4290 cancelled;
#                        dental cleaning Wed 9th 9:30
AISHA = "+15550102030"  # 4533 shipped, 4601 processing; cards 5512 and 9087 active
WEI = "+15550147788"  # keyboard 4488 delivered, lamp 4577 shipped; vaccination Tue 8th 11:00
OLGA = "+15550193344"  # card 6620 active; blood test Thu 10th 9:00
HANNAH = "+15550119090"  # cards 2209 blocked, 7781 active
LIAM = "+15550178989"  # electric toothbrush 4377 delivered
STRANGER = "+15559870000"  # no customer


# -- the harness -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(TurnClassifier.load(shared_embedder()))


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


class Call:
    """One caller on the line: `say()` each turn, the plans are kept."""

    def __init__(self, turns: TurnManager) -> None:
        self.turns = turns
        self.plans: list[TurnPlan] = []

    def say(self, text: str = "", dtmf: str = "") -> TurnPlan:
        plan = self.turns.handle(text, dtmf)
        self.plans.append(plan)
        return plan

    @property
    def actions(self) -> list[str]:
        return list(self.turns.state.actions)


@pytest.fixture
def call(engine, knowledge, reader) -> Callable[..., Call]:
    def start(phone: str, at: datetime = NOW) -> Call:
        business = Business(engine, now=lambda: at)
        profile = CallerHistory(engine, business).profile(phone)
        return Call(
            TurnManager(
                business,
                knowledge,
                shared_embedder(),
                profile,
                phone,
                today=at.date(),
                reader=reader,
            )
        )

    return start


def rows(engine: sqlalchemy.Engine, query) -> list:
    with Session(engine) as db:
        return list(db.scalars(query))


def card_status(engine: sqlalchemy.Engine) -> dict[str, str]:
    return {c.last4: c.status for c in rows(engine, select(Card))}


def returns_for(engine: sqlalchemy.Engine, number: str) -> list[Return]:
    return rows(engine, select(Return).where(Return.order_number == number))


def appointments(engine: sqlalchemy.Engine, phone: str) -> list[tuple[str, datetime, str]]:
    query = (
        select(Appointment)
        .join(Customer, Appointment.customer_id == Customer.id)
        .where(Customer.phone == phone)
        .order_by(Appointment.starts_at)
    )
    return [(a.kind, a.starts_at, a.status) for a in rows(engine, query)]


def nothing_offered_or_done(plan: TurnPlan) -> bool:
    return plan.offers is None and plan.does is None and plan.question != "confirm"


# -- no state-changing action without an explicit yes to the question just asked -------------


def test_a_yes_to_the_question_that_named_the_card_blocks_it(call, engine):
    olga = call(OLGA)
    asked = olga.say("Someone pinched my card on the bus, can you stop it?")
    assert asked.offers == "block_card" and "6620" in asked.say and asked.question == "confirm"
    assert card_status(engine)["6620"] == "active"  # asking changes nothing
    done = olga.say("Yes, go ahead.")
    assert done.does == "block_card" and "blocked" in done.say
    assert card_status(engine)["6620"] == "blocked" and olga.actions == ["block_card"]


@pytest.mark.parametrize(
    "answer",
    [
        "Hmm, I'm not sure, let me think about it.",
        "Hold on a second.",
        "No, leave it for now.",
        "Oh hang on, don't block it, I've just found it.",
        "Why would I need to do that?",
    ],
)
def test_anything_but_a_yes_blocks_nothing(call, engine, answer):
    olga = call(OLGA)
    assert olga.say("Someone pinched my card on the bus, can you stop it?").offers == "block_card"
    plan = olga.say(answer)
    assert plan.does is None and olga.actions == []
    assert card_status(engine)["6620"] == "active"


def test_a_yes_with_no_question_before_it_does_nothing(call, engine):
    olga = call(OLGA)
    first = olga.say("Yes, please go ahead and do it.")
    assert nothing_offered_or_done(first)
    olga.say("How much have I got in my checking account?")  # answered, nothing asked
    second = olga.say("Yes, do it.")
    assert nothing_offered_or_done(second) and olga.actions == []
    assert card_status(engine)["6620"] == "active"
    assert appointments(engine, OLGA)[0][2] == "booked"


def test_a_question_lapses_when_the_caller_moves_on(call, engine):
    olga = call(OLGA)
    assert olga.say("Someone pinched my card on the bus, can you stop it?").offers == "block_card"
    moved_on = olga.say("Actually, first, what's the balance on my savings?")
    assert "$22,410.90" in moved_on.say and moved_on.does is None
    late_yes = olga.say("Yes, go ahead.")
    assert nothing_offered_or_done(late_yes) and "blocked" not in late_yes.say
    assert card_status(engine)["6620"] == "active" and olga.actions == []


def test_a_cancellation_question_lapses_too(call, engine):
    maria = call(MARIA)
    asked = maria.say("I need to cancel my check-up please.")
    assert asked.offers == "cancel_appointment" and "December 12" in asked.say
    maria.say("Hmm, what time does the clinic open on Saturdays?")
    assert maria.say("Yes please.").does is None
    assert appointments(engine, MARIA) == [("check-up", datetime(2026, 12, 12, 10, 0), "booked")]


def test_yes_with_another_time_asks_again_instead_of_booking(call, engine):
    maria = call(MARIA)
    asked = maria.say("Could I book a check-up on Thursday at ten in the morning?")
    assert asked.offers == "book_appointment" and "Thursday, December 10 at 10:00 AM" in asked.say
    again = maria.say("Yes, but make it ten thirty.")
    assert again.does is None and again.offers == "book_appointment"
    assert "10:30 AM" in again.say
    assert len(appointments(engine, MARIA)) == 1  # nothing booked yet
    booked = maria.say("Yes, that's right.")
    assert booked.does == "book_appointment"
    assert ("check-up", datetime(2026, 12, 10, 10, 30), "booked") in appointments(engine, MARIA)


def test_yes_with_another_day_asks_again_instead_of_moving(call, engine):
    wei = call(WEI)
    asked = wei.say("I need to move my vaccination to Thursday at two in the afternoon.")
    assert asked.offers == "move_appointment" and "Thursday, December 10 at 2:00 PM" in asked.say
    again = wei.say("Yes please, but on the Friday instead.")
    assert again.does is None and "Friday, December 11 at 2:00 PM" in again.say
    assert appointments(engine, WEI) == [("vaccination", datetime(2026, 12, 8, 11, 0), "booked")]


# -- "no, the other one" -------------------------------------------------------------------


def test_no_the_other_one_switches_the_card(call, engine):
    aisha = call(AISHA)
    which = aisha.say("My card's been stolen, I need it blocked.")
    assert "5512" in which.say and "9087" in which.say and which.offers is None
    first = aisha.say("The one ending five five one two.")
    assert first.offers == "block_card" and "5512" in first.say
    other = aisha.say("No, sorry, the other one.")
    assert other.offers == "block_card" and "9087" in other.say and "5512" not in other.say
    assert aisha.say("Yes, that one.").does == "block_card"
    assert card_status(engine)["9087"] == "blocked" and card_status(engine)["5512"] == "active"


def test_no_the_other_one_switches_the_order(call):
    aisha = call(AISHA)
    first = aisha.say("Hiya, what's happening with order four six zero one?")
    assert "4601" in first.say and "Headphones" in first.say
    other = aisha.say("No, I meant the other one.")
    assert "4533" in other.say and "FedEx" in other.say


def test_no_the_other_one_switches_the_appointment(call, engine):
    business = Business(engine, now=lambda: NOW)
    maria = business.customer_by_phone(MARIA)
    assert business.book_appointment(maria.id, datetime(2026, 12, 15, 11, 0), "vaccination").ok
    talk = call(MARIA)
    first = talk.say("Please cancel my vaccination.")
    assert first.offers == "cancel_appointment" and "vaccination" in first.say
    other = talk.say("No, the other one.")
    assert other.offers == "cancel_appointment" and "check-up" in other.say
    assert "December 12" in other.say
    assert talk.say("Yes please.").does == "cancel_appointment"
    assert [s for k, _, s in appointments(engine, MARIA) if k == "check-up"] == ["cancelled"]
    assert [s for k, _, s in appointments(engine, MARIA) if k == "vaccination"] == ["booked"]


def test_no_the_other_one_when_the_other_card_is_already_blocked(call, engine):
    maria = call(MARIA)
    assert maria.say("Please block my card.").offers == "block_card"  # 7733, active
    other = maria.say("No, the other one.")
    assert "1190" in other.say and "already blocked" in other.say
    assert "All your cards" not in other.say
    assert card_status(engine)["7733"] == "active"


# -- business rules are checked before the question ------------------------------------------


@pytest.mark.parametrize(
    ("phone", "said", "number", "why"),
    [
        (JOHN, "I'd like to return the smart watch band please.", "4290", "was cancelled"),
        (MARIA, "I want to return the running shoes please.", "4521", "hasn't been delivered"),
        (MARIA, "I'd like to return the wool blanket, I don't like it.", "4102",
         "30-day return window"),
        (LIAM, "Can I return my electric toothbrush?", "4377", "hygiene"),
    ],
)  # fmt: skip
def test_a_return_that_cannot_happen_is_refused_with_the_reason_and_no_question(
    call, engine, phone, said, number, why
):
    caller = call(phone)
    plan = caller.say(said)
    assert why in plan.say
    assert nothing_offered_or_done(plan) and "Shall I" not in plan.say
    assert caller.say("Yes, please.").does is None
    assert [r.status for r in returns_for(engine, number)] == []


def test_a_return_that_can_happen_is_asked_then_started(call, engine):
    maria = call(MARIA)
    asked = maria.say("The coffee set arrived chipped, I'd like to send it back.")
    assert asked.offers == "start_return" and "4388" in asked.say
    assert returns_for(engine, "4388") == []
    done = maria.say("Yes please, go ahead.")
    assert done.does == "start_return" and "$49.00" in done.say
    assert [r.status for r in returns_for(engine, "4388")] == ["started"]


def test_moving_an_appointment_under_24_hours_away_is_refused_before_asking(call, engine):
    wei = call(WEI, at=datetime(2026, 12, 7, 15, 0))  # the jab is tomorrow at 11: 20 hours
    plan = wei.say("Can I move my vaccination to Thursday?")
    assert "24 hours" in plan.say and nothing_offered_or_done(plan)
    cancel = call(WEI, at=datetime(2026, 12, 7, 15, 0)).say("Please cancel my vaccination.")
    assert "24 hours" in cancel.say and nothing_offered_or_done(cancel)
    assert appointments(engine, WEI) == [("vaccination", datetime(2026, 12, 8, 11, 0), "booked")]


def test_the_24_hour_refusal_says_the_day_and_time_as_written(call):
    wei = call(WEI, at=datetime(2026, 12, 7, 15, 0))
    plan = wei.say("Can I move my vaccination to Thursday?")
    assert "Tuesday, December 8 at 11:00 AM" in plan.say


@pytest.mark.parametrize(
    ("phone", "said", "why"),
    [
        (MARIA, "Can I come in for a check-up this Sunday?", "closed on Sundays"),
        (JOHN, "Can I book a dental cleaning on Saturday?", "closed on Saturdays"),
        (MARIA, "I'd like a check-up on December the 25th.", "Christmas"),
        (MARIA, "Could I book a check-up on the first of January?", "New Year"),
    ],
)
def test_a_closed_day_or_public_holiday_is_refused_before_asking(call, engine, phone, said, why):
    caller = call(phone)
    before = appointments(engine, phone)
    plan = caller.say(said)
    assert why in plan.say and nothing_offered_or_done(plan)
    assert caller.say("Yes please.").does is None
    assert appointments(engine, phone) == before


def test_have_you_got_anything_on_a_weekday_asks_about_the_coming_one(call):
    plan = call(MARIA).say("I'd like a check-up. Have you got anything on Thursday?")
    assert "December 10" in plan.say and "already passed" not in plan.say


def test_a_correction_naming_the_wrong_day_after_not_keeps_the_right_one(call):
    maria = call(MARIA)
    assert "Tuesday, December 8" in maria.say("Can I book a check-up on Tuesday at ten?").say
    plan = maria.say("Sorry, I meant the Wednesday, not the Tuesday.")
    assert "Wednesday, December 9 at 10:00 AM" in plan.say


# -- direction: unfreezing is never blocking -------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "said"),
    [
        (HANNAH, "Please unfreeze my card."),
        (MARIA, "The bank froze my card and I really need it working again."),
        (HANNAH, "Can you switch my card back on, the one ending two two oh nine?"),
    ],
)
def test_unfreeze_never_offers_a_block(call, engine, phone, said):
    before = card_status(engine)
    caller = call(phone)
    plan = caller.say(said)
    assert plan.offers is None and "Shall I block" not in plan.say
    assert "can't unblock" in plan.say and OFFER_PERSON in plan.say
    accepted = caller.say("Yes please.")
    assert accepted.wants_human and accepted.does is None
    assert card_status(engine) == before


# -- honest limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "said", "limit"),
    [
        (JOHN, "Can you move five hundred dollars from checking to savings?", "can't move money"),
        (JOHN, "I want to cancel order four six one zero, I ordered it by mistake.",
         "can't cancel an order"),
        (OLGA, "Could you sort out a repeat prescription for my blood pressure tablets?",
         "can't handle prescriptions"),
        (OLGA, "Have the results from my blood test come back yet?", "can't give out test results"),
    ],
)  # fmt: skip
def test_an_honest_limit_is_said_and_a_yes_hands_over(call, engine, phone, said, limit):
    caller = call(phone)
    plan = caller.say(said)
    assert limit in plan.say and plan.say.endswith(OFFER_PERSON)
    assert plan.question == "offer_person" and not plan.wants_human and plan.offers is None
    accepted = caller.say("Yes, please do.")
    assert accepted.wants_human
    assert caller.actions == []
    assert [s for k, _, s in appointments(engine, OLGA)] == ["booked"]


def test_a_no_to_the_offer_of_a_person_keeps_the_caller(call):
    john = call(JOHN)
    john.say("Can you move five hundred dollars from checking to savings?")
    plan = john.say("No thanks, that's okay.")
    assert not plan.wants_human and "anything else" in plan.say


# -- a person, asked for in many ways, through the whole brain of a call ----------------------


@pytest.fixture(scope="module")
def text_calls(tmp_path_factory: pytest.TempPathFactory) -> TextCalls:
    work = tmp_path_factory.mktemp("text-calls")
    settings = Settings(
        _env_file=None,
        RECORDINGS_DIR=work / "calls",
        DATABASE_URL=f"sqlite:///{work / 'calls.db'}",
        AGENT_TODAY=TODAY.isoformat(),
    )
    store = Store(settings.database)
    reset_business(settings.database, None, TODAY)
    calls = TextCalls(settings, store, clock=lambda: NOW)
    yield calls
    store.engine.dispose()


async def _escalation(text_calls: TextCalls, phone: str, turns: list[str]) -> list[dict]:
    call = text_calls.open(phone, today=TODAY)
    for text in turns:
        if not call.ended:
            await call.say(text)
    call.close()
    if call.session.stored is not None:
        await call.session.stored
    events = [
        json.loads(line) for line in call.session.recorder.events_path.read_text().splitlines()
    ]
    return [e for e in events if e["type"] == "escalation"]


@pytest.mark.parametrize(
    "said",
    [
        "Can I have a word with your supervisor please?",
        "Could you put me through to the front desk?",
        "Is there someone there who isn't a computer?",
        "I'd rather deal with a real person, thanks.",
        "Can you transfer me to somebody in the office?",
    ],
)
async def test_a_person_asked_for_in_any_form_is_handed_over(text_calls, said):
    escalations = await _escalation(text_calls, JOHN, ["What's my balance?", said])
    assert [e["rule"] for e in escalations] == ["human_request"]
    assert escalations[0]["turns"] == [1]


async def test_yes_to_an_offered_person_hands_over(text_calls):
    escalations = await _escalation(
        text_calls, OLGA, ["Are my blood test results back?", "Yes please, put me through."]
    )
    assert [e["rule"] for e in escalations] == ["human_request"]


async def test_a_lost_wallet_is_no_request_for_a_person(text_calls):
    escalations = await _escalation(
        text_calls, OLGA, ["Somebody took my wallet, please block my card."]
    )
    assert escalations == []


# -- the outcome stored when a call closes (what the managers' dashboard counts) ---------------


async def _stored_outcome(text_calls: TextCalls, phone: str, turns: list[str]) -> str:
    """Play the turns (the caller hangs up after the last), close, read the call's row."""
    call = text_calls.open(phone, today=TODAY)
    for text in turns:
        await call.say(text)
    call.close()
    assert call.session.stored is not None and await call.session.stored
    with Session(call.session.store.engine) as db:
        row = db.get(CallRow, call.session.call_sid)
    assert row is not None
    return row.outcome


@pytest.mark.parametrize(
    "phone, turns",
    [
        (MARIA, ["Where is my order four five two one?", "Thanks, that's all."]),
        (OLGA, ["When is my blood test?", "Great, thank you."]),  # hangs up after thanks
        # Told plainly why it can't be (order 4290 was cancelled): an answer, settled politely.
        (JOHN, ["I want to return order four two nine zero.", "Oh okay, thanks, that's all."]),
    ],
)
async def test_a_caller_answered_who_ends_politely_is_resolved(text_calls, phone, turns):
    assert await _stored_outcome(text_calls, phone, turns) == "resolved"


@pytest.mark.parametrize(
    "phone, turns",
    [
        # Left with the question open: "which time works for you?" and no answer.
        (WEI, ["Can I move my vaccination to Friday?", "Thanks, that's all."]),
        # Told why not, then gone without a word of thanks: not known to be settled.
        (JOHN, ["I want to return order four two nine zero."]),
        (MARIA, ["Thanks, that's all."]),  # asked for nothing
    ],
)
async def test_a_caller_who_leaves_with_nothing_settled_is_abandoned(text_calls, phone, turns):
    assert await _stored_outcome(text_calls, phone, turns) == "abandoned"


def test_a_hand_over_does_not_keep_the_tail_of_a_dropped_question():
    from voice.conversation import _before_handover

    plan = TurnPlan(
        "card_block",
        say="Shall I block your checking card ending 6620 now? It "
        "can't be used again once it's blocked.",
        offers="block_card",
        question="confirm",
    )
    assert "can't be used again" not in _before_handover(plan)


# -- an unknown caller -----------------------------------------------------------------------


def test_an_unknown_caller_hears_only_an_orders_status_and_delivery_date(call):
    stranger = call(STRANGER)
    plan = stranger.say("Where is order four five three three?")  # Aisha's yoga mat
    assert "4533" in plan.say and "shipped" in plan.say and "Wednesday, December 9" in plan.say
    for private in ("Yoga", "FedEx", "781234500112", "Aisha", "$"):
        assert private not in plan.say
    assert set(plan.facts) <= {"order_number", "status", "eta", "delivered_on"}
    tracking = stranger.say("And what's the tracking number for it?")
    assert "781234500112" not in tracking.say and "FedEx" not in tracking.say


@pytest.mark.parametrize(
    "said",
    [
        "What's the balance on my checking account?",
        "I've lost my card, please block it.",
        "I'd like to book a check-up for Thursday.",
        "Please cancel my appointment tomorrow.",
        "I want to return order four four seven five.",
    ],
)
def test_an_unknown_caller_cannot_do_bank_or_clinic_tasks(call, engine, said):
    cards, booked = card_status(engine), rows(engine, select(Appointment))
    stranger = call(STRANGER)
    plan = stranger.say(said)
    assert "calling from" in plan.say and nothing_offered_or_done(plan)
    assert "$" not in plan.say
    stranger.say("Yes.")
    assert stranger.actions == [] and card_status(engine) == cards
    assert len(rows(engine, select(Appointment))) == len(booked)
    assert returns_for(engine, "4475") == []


def test_an_unknown_caller_is_asked_for_the_number_and_may_type_it(call):
    stranger = call(STRANGER)
    asked = stranger.say("Hi, I'm checking on a delivery.")
    assert "order number" in asked.say
    typed = stranger.say("", "4521#")
    assert "4521" in typed.say and "Thursday, December 10" in typed.say
    assert "Running" not in typed.say and "UPS" not in typed.say


# -- state kept for the call -----------------------------------------------------------------


def test_an_order_number_said_in_turn_one_is_used_in_turn_three(call):
    wei = call(WEI)  # 4488 (delivered keyboard) and 4577 (lamp on its way)
    first = wei.say("Hello, can you check order four four eight eight for me?")
    assert "4488" in first.say
    assert "$8,025.00" in wei.say("And how much is in my savings?").say
    third = wei.say("What was the tracking number for that order?")
    assert "4488" in third.say and "1Z999AA10155501234" in third.say
    assert "4577" not in third.say


@pytest.mark.parametrize(
    ("said", "day"),
    [
        ("I ordered it on the 9th of October and want to know what happened to it.",
         date(2026, 10, 9)),
        ("I bought a blanket back on the twenty-eighth of September.", date(2026, 9, 28)),
        ("The parcel was supposed to arrive last Friday.", date(2026, 12, 4)),
    ],
)  # fmt: skip
def test_a_date_in_the_past_stays_in_the_past(call, said, day):
    plan = call(MARIA).say(said)
    assert plan.values.get("date") == day.isoformat()


def test_a_multi_request_turn_answers_both(call):
    john = call(JOHN)
    plan = john.say("What's my balance, and also when is my dental cleaning?")
    assert "$2,341.17" in plan.say and "Wednesday, December 9 at 9:30 AM" in plan.say


def test_a_multi_request_turn_answers_first_and_asks_to_act_last(call, engine):
    olga = call(OLGA)
    plan = olga.say("Block my card and also tell me what's in my checking account.")
    assert "$980.10" in plan.say and plan.offers == "block_card"
    assert plan.say.index("$980.10") < plan.say.index("6620")
    assert olga.say("Yes, go on.").does == "block_card"
    assert card_status(engine)["6620"] == "blocked"


def test_not_cancelling_gets_the_appointment_time_and_no_offer(call, engine):
    maria = call(MARIA)
    plan = maria.say("I don't want it cancelled, I just want to know when my check-up is.")
    assert "Saturday, December 12 at 10:00 AM" in plan.say and nothing_offered_or_done(plan)
    assert maria.say("Yes.").does is None
    assert appointments(engine, MARIA)[0][2] == "booked"


# -- carried over from the old turn-manager tests --------------------------------------------


def test_a_known_caller_hears_nothing_about_someone_elses_order(call):
    plan = call(MARIA).say("Could you check on order four five three three for me?")  # Aisha's
    assert "couldn't find order 4533 on your account" in plan.say
    for private in ("Yoga", "FedEx", "shipped", "December 9"):
        assert private not in plan.say


def test_a_number_one_digit_off_finds_the_callers_own_order(call):
    plan = call(JOHN).say("I want to send back the speaker from order four four four seven five.")
    assert "4475" in plan.say and plan.offers == "start_return"


def test_a_slot_taken_before_the_yes_offers_other_times(call, engine):
    wei = call(WEI)
    asked = wei.say("Can I book a dental cleaning on Wednesday at two in the afternoon?")
    assert asked.offers == "book_appointment" and "Wednesday, December 9 at 2:00 PM" in asked.say
    business = Business(engine, now=lambda: NOW)  # meanwhile two other calls take both dentists
    for phone in (MARIA, AISHA):
        other = business.customer_by_phone(phone)
        assert business.book_appointment(other.id, datetime(2026, 12, 9, 14), "dental cleaning").ok
    taken = wei.say("Yes, please book it.")
    assert taken.does is None and "2:00 PM isn't free" in taken.say
    assert ("dental cleaning", datetime(2026, 12, 9, 14), "booked") not in appointments(engine, WEI)


def test_goodbye_to_a_which_one_question_says_goodbye_not_the_question_again(call):
    olga = call(OLGA)
    olga.say("When do you open?")
    assert olga.turns.state.question is not None  # which place: the shop, the bank, a clinic
    plan = olga.say("Oh never mind, that's fine, cheers, bye.")
    assert plan.intent == "goodbye" and plan.hang_up
    assert "which do you mean" not in plan.say.lower()


def test_when_the_people_for_that_work_follows_the_line_the_call_was_on(call):
    olga = call(OLGA)
    olga.say("I want to ask about my balance please")
    plan = olga.say("And are your people for that in on Saturdays?")
    assert plan.intent == "opening_hours"
    assert "Saturday" in plan.say and "which do you mean" not in plan.say.lower()


def test_book_a_new_one_after_a_missed_appointment_keeps_its_kind(call, engine):
    maria = call(MARIA, at=datetime(2026, 12, 14, 10, 0))  # her check-up on the 12th has gone
    gone = maria.say("I missed my check-up on the 12th, could I move it to Thursday?")
    assert "already passed" in gone.say and gone.offers is None
    plan = maria.say("Okay then, can you book a new one for Thursday at eleven please?")
    assert plan.offers == "book_appointment"
    assert "check-up" in plan.say and "Thursday, December 17" in plan.say
    assert maria.actions == []


# -- a turn read ahead while the caller pauses (issue 15) --------------------------------------


async def test_a_turn_read_ahead_at_a_pause_changes_nothing_and_its_reply_embeds_nothing_new(
    text_calls, monkeypatch
):
    """At the caller's pause the responder has the conversation prepare the turn's reading
    (`Conversation.anticipate`). The dialogue must not move (the caller may speak on), and
    when the turn does end with those words its reply needs no embedding of its own."""
    embedder = shared_embedder()
    computed: list[str] = []
    compute = embedder._compute

    def counted(texts: list[str]):
        computed.extend(texts)
        return compute(texts)

    monkeypatch.setattr(embedder, "_compute", counted)
    words = "Hello there. My bank card went missing on the tram this morning, block it please?"
    call = text_calls.open(OLGA, today=TODAY)
    turns = call.conversation.turns
    before = (turns.state.turn, turns.expecting, list(call.conversation.messages))
    computed.clear()
    call.conversation.anticipate(words)
    assert computed, "the reading was prepared"
    assert (turns.state.turn, turns.expecting, list(call.conversation.messages)) == before
    computed.clear()
    reply = (await call.say(words)).reply
    call.close()
    assert computed == []
    plain = text_calls.open(OLGA, today=TODAY)  # the same turn, not read ahead
    assert reply.text == (await plain.say(words)).reply.text
    plain.close()
    assert "card" in reply.text.lower()
