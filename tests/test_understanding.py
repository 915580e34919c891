"""Intent and slot values from Whisper-like transcripts of three businesses' callers."""

from __future__ import annotations

import os
from datetime import date, time
from decimal import Decimal

import numpy as np
import pytest

from voice.dialogue.understanding import (
    INTENTS,
    classify_by_example,
    classify_by_examples,
    dtmf_values,
    is_affirmation,
    is_correction,
    is_denial,
    load_examples,
    refers_to_other,
    understand,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TODAY = date(2026, 11, 30)  # a Monday

# (transcript as Whisper might write it, intent). Written apart from data/intents.yaml so the
# accuracy below measures generalisation, not recall of the examples.
LABELLED: list[tuple[str, str]] = [
    # shop: orders, returns, complaints
    ("Hi, where's my order? It's number four five two one.", "order_status"),
    ("Wear is my package, I ordered it last week", "order_status"),
    ("Can you check the status of order for five to one", "order_status"),
    ("My parcel still hasn't arrived.", "order_status"),
    ("When will my order be delivered?", "order_status"),
    ("I'd like to track my delivery please", "order_status"),
    ("Has my order shipped yet", "order_status"),
    ("I'm calling about order number 4521.", "order_status"),
    ("the package was meant to come on Friday and nothing", "order_status"),
    ("I never got the stuff I paid for", "order_status"),
    ("I want to return the shoes I bought", "start_return"),
    ("How do I send this back? It's the wrong size.", "start_return"),
    ("The mug arrived broken and I'd like a refund", "start_return"),
    ("Can I exchange the jacket for a medium", "start_return"),
    ("I'd like my money back for order 4522", "start_return"),
    ("I want to cancel my order", "start_return"),
    ("these trousers don't fit", "start_return"),
    ("I want to make a complaint", "complaint"),
    ("This is ridiculous, your driver threw the box over the fence", "complaint"),
    ("I'm really not happy with the service I got", "complaint"),
    ("Your delivery guy was so rude to me.", "complaint"),
    ("I've been waiting for weeks and nobody calls me back", "complaint"),
    ("What's your return policy?", "policy_question"),
    ("How long do refunds take?", "policy_question"),
    ("Do you offer free shipping on big orders", "policy_question"),
    ("Can I return something without a receipt", "policy_question"),
    ("Is there a warranty on the blender", "policy_question"),
    # bank: balance, blocked card, transfers
    ("What's my balance?", "account_balance"),
    ("How much money do I have in my savings account", "account_balance"),
    ("Can you tell me what's in my checkings", "account_balance"),
    ("I'd like to check my account balanced please", "account_balance"),
    ("how much is left on my checking", "account_balance"),
    ("I lost my card.", "block_card"),
    ("My debit card was stolen last night, please block it", "block_card"),
    ("I need to freeze my credit card", "block_card"),
    ("blog my card please, the one ending in 1234", "block_card"),
    ("There's a charge I didn't make on my card", "block_card"),
    ("I think someone is using my card", "block_card"),
    ("I lost my cart at the station, can you stop it", "block_card"),
    ("I want to transfer two hundred dollars to savings", "transfer_money"),
    ("Move 500 from checking to savings please.", "transfer_money"),
    ("Can I send money to my daughter's account", "transfer_money"),
    ("transfer fifty bucks into my checking", "transfer_money"),
    ("I need to make a transfer", "transfer_money"),
    ("Do you charge a fee for transfers?", "policy_question"),
    # clinic: booking, moving, cancelling, hours
    ("I'd like to book an appointment for a checkup", "book_appointment"),
    ("Can I make a point meant with the dentist next Tuesday?", "book_appointment"),
    ("I need to see a doctor tomorrow morning", "book_appointment"),
    ("Do you have any free slots on Friday afternoon", "book_appointment"),
    ("I want to schedule a cleaning for the 3rd", "book_appointment"),
    ("I need to reschedule my appointment", "move_appointment"),
    ("Can I move my checkup to Thursday at 3?", "move_appointment"),
    ("I'd like to change my appointment to a different day", "move_appointment"),
    ("Could we re-schedule the cleaning for next week", "move_appointment"),
    ("I can't make Tuesday, can we do Wednesday instead?", "move_appointment"),
    ("I need to cancel my appointment on Friday", "cancel_appointment"),
    ("Please cancel my a pointment tomorrow", "cancel_appointment"),
    ("I won't be able to make it on Thursday", "cancel_appointment"),
    ("cancel the cleaning, I'm not coming", "cancel_appointment"),
    ("What time do you open tomorrow?", "opening_hours"),
    ("Are you open on Sundays?", "opening_hours"),
    ("What are your opening hours", "opening_hours"),
    ("When does the clinic close today", "opening_hours"),
    ("how late are you open on Saturday", "opening_hours"),
    # talking to a person, and conversation
    ("Can I speak to a real person please", "speak_to_human"),
    ("Agent.", "speak_to_human"),
    ("Transfer me to a representative.", "speak_to_human"),
    ("I want to talk to someone, not a machine", "speak_to_human"),
    ("operator please", "speak_to_human"),
    ("Hello?", "greeting"),
    ("Hi there, good morning", "greeting"),
    ("Hello, can you hear me?", "greeting"),
    ("Thanks, bye!", "goodbye"),
    ("No, that's all, thank you.", "goodbye"),
    ("OK, have a nice day", "goodbye"),
    ("That's everything, goodbye", "goodbye"),
    ("Yes please.", "affirm"),
    ("Yeah, go ahead.", "affirm"),
    ("That's right.", "affirm"),
    ("Yep", "affirm"),
    ("Sure, no problem", "affirm"),
    ("No.", "deny"),
    ("Nope, don't.", "deny"),
    ("No thanks", "deny"),
    ("I don't think so", "deny"),
    ("No, the other order.", "correction"),
    ("Sorry, I meant 4522.", "correction"),
    ("Wait, not that one.", "correction"),
    ("No, I said savings", "correction"),
    ("Actually it's the fifth, not the third", "correction"),
    # no keyword rule fires: the nearest example has to carry these
    ("The thing I bought still isn't here", "order_status"),
    ("I changed my mind about the lamp", "start_return"),
    ("Nobody has helped me at all and I'm losing my patience", "complaint"),
    ("Something came up and Tuesday no longer works for me", "move_appointment"),
    ("Can you put me through to customer service", "speak_to_human"),
    ("I'd like to pay my landlord from my account", "transfer_money"),
    ("Do I have enough money for rent", "account_balance"),
    ("I'm not going to make my visit, sorry", "cancel_appointment"),
    ("Can I get my teeth looked at sometime this week", "book_appointment"),
    # a second batch, first scored unseen (85 % before the rules were widened)
    ("yeah hi I was wondering about my delivery, it said Tuesday", "order_status"),
    ("did you guys send out my order yet", "order_status"),
    ("I'm ringing to find out where my parcel's got to", "order_status"),
    ("my package says delivered but it's not here", "order_status"),
    ("the lamp I got is scratched, I'd like to send it back", "start_return"),
    ("how do I get my money back for the kettle", "start_return"),
    ("I got two of the same thing and only ordered one", "start_return"),
    ("honestly your company is a nightmare to deal with", "complaint"),
    ("I am extremely dissatisfied", "complaint"),
    ("what do I have in savings right now", "account_balance"),
    ("can you read me my balance", "account_balance"),
    ("how much cash is in my account", "account_balance"),
    ("my wallet got nicked on the bus", "block_card"),
    ("somebody took my debit card", "block_card"),
    ("please put a stop on my card", "block_card"),
    ("I need to send 300 to my mum", "transfer_money"),
    ("can you move 1000 dollars into savings", "transfer_money"),
    ("could I get in with the dentist on Monday", "book_appointment"),
    ("I'd like a flu shot this week", "book_appointment"),
    ("are there any appointments left for Thursday", "book_appointment"),
    ("can I push my appointment back an hour", "move_appointment"),
    ("I need a later time for my checkup", "move_appointment"),
    ("I'd like to cancel Friday's appointment", "cancel_appointment"),
    ("please remove my booking for next week", "cancel_appointment"),
    ("what time do you guys shut", "opening_hours"),
    ("are you open over Christmas", "opening_hours"),
    ("when's the dental clinic open", "opening_hours"),
    ("do you price match", "policy_question"),
    ("is there a limit on how much I can transfer", "policy_question"),
    ("how long have I got to return stuff", "policy_question"),
    ("get me a real person now", "speak_to_human"),
    ("I'd rather talk to a human", "speak_to_human"),
    ("representative", "speak_to_human"),
    ("hey", "greeting"),
    ("good evening", "greeting"),
    ("cheers, bye", "goodbye"),
    ("alright that's it for today, thanks", "goodbye"),
    ("yes that's correct", "affirm"),
    ("uh huh", "affirm"),
    ("go for it", "affirm"),
    ("no don't do that", "deny"),
    ("hold on, I gave you the wrong number", "correction"),
    ("oops, I meant checking not savings", "correction"),
    ("not the mug, the tea towels", "correction"),
    # a third batch, first scored unseen (83 % before the rules were widened again)
    ("hello I'm calling to check on an order I placed", "order_status"),
    ("it's been ten days and my shoes are nowhere", "order_status"),
    ("is order 4388 on the truck yet", "order_status"),
    ("I need to return a jacket, order four three eight eight", "start_return"),
    ("the headphones stopped working after two days", "start_return"),
    ("can I get a refund on the sweater", "start_return"),
    ("you charged me twice and no one will fix it, I'm livid", "complaint"),
    ("this service is a disaster", "complaint"),
    ("what's the money situation in my checking", "account_balance"),
    ("tell me how much I've got in savings", "account_balance"),
    ("I dropped my card somewhere in town", "block_card"),
    ("my visa was skimmed at a petrol station", "block_card"),
    ("shift two fifty over to savings", "transfer_money"),
    ("I want to wire a thousand dollars to my brother", "transfer_money"),
    ("I'd like to come in for a blood test", "book_appointment"),
    ("book me in with Dr. Patel please", "book_appointment"),
    ("can my Tuesday appointment be moved to Friday", "move_appointment"),
    ("I'd like to swap my booking to the morning", "move_appointment"),
    ("I won't make my checkup on Friday, please cancel", "cancel_appointment"),
    ("delete my appointment", "cancel_appointment"),
    ("what are the hours for the downtown clinic", "opening_hours"),
    ("is the shop open late on Thursdays", "opening_hours"),
    ("what's the fee for a replacement card", "policy_question"),
    ("are returns free", "policy_question"),
    ("put me on to someone who can actually help", "speak_to_human"),
    ("I need to speak to a manager", "speak_to_human"),
    ("good afternoon there", "greeting"),
    ("okay bye now", "goodbye"),
    ("that'll be all, thanks a lot", "goodbye"),
    ("yes, go ahead and do that", "affirm"),
    ("correct, that's the one", "affirm"),
    ("no, leave it as it is", "deny"),
    ("nah I'm fine", "deny"),
    ("sorry, wrong one, I meant the savings account", "correction"),
    ("no, four five two two, not four five two one", "correction"),
    # a fourth batch, first scored unseen (87.5 %)
    ("Yeah, um, I placed an order like a week ago and haven't heard anything.", "order_status"),
    ("Can you tell me if order for three eight eight went out?", "order_status"),
    ("I'd like to send back the, uh, the coffee grinder.", "start_return"),
    ("The size is off, can I swap it?", "start_return"),
    ("I've called four times about this and I'm sick of it.", "complaint"),
    ("Your staff hung up on me yesterday.", "complaint"),
    ("What's my checking balance?", "account_balance"),
    ("How much have I got left?", "account_balance"),
    ("I think I left my card at the restaurant.", "block_card"),
    ("Please stop all payments on my card.", "block_card"),
    ("I want to put two hundred in savings.", "transfer_money"),
    ("Can you send five hundred dollars from savings to checking?", "transfer_money"),
    ("I'd like to get an appointment for my son.", "book_appointment"),
    ("Is Dr. Patel free on Wednesday?", "book_appointment"),
    ("Can we push it to next week?", "move_appointment"),
    ("I need to change the day of my cleaning.", "move_appointment"),
    ("I'm going to have to cancel tomorrow's visit.", "cancel_appointment"),
    ("Cancel my check up.", "cancel_appointment"),
    ("What time do you close on Saturday?", "opening_hours"),
    ("Are you guys open right now?", "opening_hours"),
    ("What's the policy on late cancellations?", "policy_question"),
    ("Do I need the original box to return something?", "policy_question"),
    ("Can I just talk to an actual person?", "speak_to_human"),
    ("Human please.", "speak_to_human"),
    ("Hi.", "greeting"),
    ("Bye bye.", "goodbye"),
    ("Great, thanks so much, have a good one.", "goodbye"),
    ("Yes.", "affirm"),
    ("Yeah, sure.", "affirm"),
    ("No, not now.", "deny"),
    ("Wait, that's the wrong order.", "correction"),
    ("Sorry, I meant Wednesday.", "correction"),
]


class BatchedEncoder:
    """The real MiniLM embedder, fed the labelled set and the examples in one batch up front:
    single-sentence calls are slow on a busy CPU, and these tests only need the vectors."""

    def __init__(self, inner, texts: list[str]) -> None:
        self.inner = inner
        self.cache = dict(zip(texts, inner.encode(texts), strict=True))

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.encode(missing), strict=True))
        return np.stack([self.cache[t] for t in texts])


@pytest.fixture(scope="session")
def embedder():
    from voice.engines.embeddings import shared_embedder

    texts = [t for t, _ in LABELLED] + [p for _, p in load_examples()]
    return BatchedEncoder(shared_embedder(), list(dict.fromkeys(texts)))


def test_labels_are_known_intents():
    assert {intent for _, intent in LABELLED} <= set(INTENTS)
    assert {intent for intent, _ in load_examples()} <= set(INTENTS)
    assert len(LABELLED) >= 60


def test_intent_accuracy_on_labelled_set(embedder):
    wrong = []
    for text, expected in LABELLED:
        got = understand(text, today=TODAY, embedder=embedder)
        if got.intent != expected:
            wrong.append((text, expected, got.intent, got.source, round(got.confidence, 2)))
    accuracy = 1 - len(wrong) / len(LABELLED)
    print(f"\nintent accuracy (rules + examples): {accuracy:.1%} on {len(LABELLED)} utterances")
    for item in wrong:
        print("  miss:", item)
    assert accuracy >= 0.95


def test_examples_alone_generalise(embedder):
    """Without the rules, nearest-example accuracy on the labelled set (informative floor)."""
    found = classify_by_examples([text for text, _ in LABELLED], embedder)
    hits = sum(got == expected for (got, _), (_, expected) in zip(found, LABELLED, strict=True))
    accuracy = hits / len(LABELLED)
    print(f"\nintent accuracy (examples only): {accuracy:.1%}")
    assert accuracy >= 0.6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can I talk to Upper Thin Pleas?", "speak_to_human"),  # Whisper's "a person please"
        ("Could I talk to a purse and please?", "speak_to_human"),
        ("Hi, can I speak to Dr Patel?", "speak_to_human"),
        ("Can I speak with the billing department", "speak_to_human"),
        ("Can I talk to you about my order?", "order_status"),
        ("Can I talk about my order 4521?", "order_status"),
    ],
)
def test_asking_to_talk_to_anyone_named_is_a_request_for_a_person(text, expected):
    assert understand(text, today=TODAY).intent == expected


def test_no_embedder_still_understands_keywords():
    assert understand("where is my order").intent == "order_status"
    assert understand("blah blah").intent == "unknown"


def test_unrelated_text_is_unknown(embedder):
    got = understand("The weather in Lisbon is lovely in spring", embedder=embedder)
    assert got.intent == "unknown"
    assert (
        classify_by_example("The weather in Lisbon is lovely in spring", embedder)[0] == "unknown"
    )


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("where is order four five two one", "order_number", "4521"),
        ("order forty five twenty one", "order_number", "4521"),
        ("my order number is for five to one", "order_number", "4521"),
        ("the order is 4 5 2 1", "order_number", "4521"),
        ("order #4521 please", "order_number", "4521"),
        ("order 45 21", "order_number", "4521"),
        ("order number four thousand five hundred twenty one", "order_number", "4521"),
        ("my card ends in 1234", "card_last4", "1234"),
        ("the card ending in one two three four got lost", "card_last4", "1234"),
        ("block my card, the number is 4111 1111 1111 1234", "card_last4", "1234"),
        ("transfer $250 to savings", "amount", Decimal("250")),
        ("send two hundred and fifty dollars to checking", "amount", Decimal("250")),
        ("transfer 300 to savings", "amount", Decimal("300")),
        ("move forty nine dollars and fifty cents", "amount", Decimal("49.50")),
        ("what's in my checking account", "account_kind", "checking"),
        ("how much is in my saving account", "account_kind", "savings"),
        ("I'd like to book a cleaning", "appointment_kind", "cleaning"),
        ("Book me a check-up please", "appointment_kind", "checkup"),
        ("Can I book a dental check-up?", "appointment_kind", "dental check-up"),
        ("I need to see the dentist", "appointment_kind", "dental check-up"),
        ("a cleaning with the dentist please", "appointment_kind", "cleaning"),
        ("where is order 46-01", "order_number", "4601"),
        ("Hi, my name is Ana Lopez and I'm calling about my order", "person_name", "Ana Lopez"),
        ("this is John Smith", "person_name", "John Smith"),
        ("I want to return it because it arrived broken.", "reason", "it arrived broken"),
    ],
)
def test_values(text, key, value):
    assert understand(text, today=TODAY).values.get(key) == value


def test_no_identifier_from_plain_words():
    values = understand("I want to return it to the store", today=TODAY).values
    assert not {"order_number", "card_last4", "number"} & values.keys()


def test_im_calling_is_not_a_name():
    assert "person_name" not in understand("I'm calling about my card").values


def test_transfer_accounts_direction():
    values = understand("move 500 from checking to savings", today=TODAY).values
    assert values["from_account"] == "checking" and values["to_account"] == "savings"
    assert values["amount"] == Decimal("500")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow", date(2026, 12, 1)),
        ("the day after tomorrow", date(2026, 12, 2)),
        ("next Tuesday", date(2026, 12, 8)),  # Monday today: "next Tuesday" is next week's
        ("this Friday", date(2026, 12, 4)),
        ("Friday", date(2026, 12, 4)),
        ("on Monday", date(2026, 12, 7)),
        ("on the 3rd", date(2026, 12, 3)),
        ("on the twenty-ninth", date(2026, 12, 29)),
        ("the 30th", date(2026, 11, 30)),
        ("December 3rd", date(2026, 12, 3)),
        ("the third of December", date(2026, 12, 3)),
        ("12/3", date(2026, 12, 3)),
        ("November 2nd", date(2027, 11, 2)),  # past this year: the caller means next year
        ("Friday the 4th", date(2026, 12, 4)),
        ("in 3 days", date(2026, 12, 3)),
        ("Tuesday next week", date(2026, 12, 8)),
    ],
)
def test_dates_resolve_against_today(text, expected):
    assert understand(f"can I come in {text}", today=TODAY).values.get("date") == expected


def test_next_tuesday_later_in_week():
    thursday = date(2026, 12, 3)
    assert understand("next Tuesday", today=thursday).values["date"] == date(2026, 12, 8)


def test_next_week_is_a_hint_not_a_day():
    values = understand("sometime next week", today=TODAY).values
    assert "date" not in values and values["date_hint"] == "next week"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at 3", time(15, 0)),
        ("at 3 pm", time(15, 0)),
        ("3 p.m.", time(15, 0)),
        ("at 9", time(9, 0)),
        ("at 10:30", time(10, 30)),
        ("half past two", time(14, 30)),
        ("quarter to five", time(16, 45)),
        ("at 8 in the evening", time(20, 0)),
        ("at noon", time(12, 0)),
        ("at three thirty", time(15, 30)),
        ("11 am", time(11, 0)),
    ],
)
def test_times(text, expected):
    assert understand(f"Friday {text}", today=TODAY).values.get("time") == expected


def test_part_of_day_only():
    values = understand("can I come in the morning", today=TODAY).values
    assert values["time"] is None and values["part_of_day"] == "morning"


def test_date_and_time_digits_are_not_identifiers():
    values = understand("move my appointment to December 3rd at 3:30", today=TODAY).values
    assert values["date"] == date(2026, 12, 3) and values["time"] == time(15, 30)
    assert not {"order_number", "number"} & values.keys()


# --- corrections, confirmations, DTMF --------------------------------------------------------


def test_correction_with_new_order_number():
    got = understand("sorry, I meant 4522", expecting="order_number", today=TODAY)
    assert got.intent == "correction" and got.correction
    assert got.values["order_number"] == "4522"


def test_denial_plus_value_is_a_correction():
    got = understand("no, it's four five two two", expecting="order_number", today=TODAY)
    assert got.intent == "correction" and got.values["order_number"] == "4522"


def test_correction_that_changes_the_task_keeps_the_task():
    got = understand("no wait, I want to move my appointment, not cancel it", today=TODAY)
    assert got.intent == "move_appointment" and got.correction


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes please.",
        "yeah go ahead",
        "Yep, that's right",
        "sure",
        "correct",
        "OK",
        "yes, no problem",
    ],
)
def test_affirmations(text):
    assert is_affirmation(text) and not is_denial(text)


@pytest.mark.parametrize(
    "text",
    ["no", "Nope, don't.", "No thanks", "nah", "I don't think so", "please don't", "that's wrong"],
)
def test_denials(text):
    assert is_denial(text) and not is_affirmation(text)


def test_know_opening_a_turn_is_no():
    # Whisper writes a caller's leading "No, ..." as "Know ..." on phone audio.
    assert is_denial("Know the other order.") and is_correction("Know the other order.")


def test_a_hyphenated_answer_fills_the_identifier_asked_for():
    assert understand("46-01.", expecting="order_number").values["order_number"] == "4601"
    heard = understand("The one ending in 908.7.", expecting="card_last4")
    assert heard.values["card_last4"] == "9087"
    assert understand("transfer 49.50 dollars", today=TODAY).values["amount"] == Decimal("49.50")
    assert "order_number" not in understand("It takes 10-15 minutes", today=TODAY).values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no, the other order", True),
        ("not that one", True),
        ("a different card", True),
        ("sorry, I meant 4302", False),
        ("no, don't", False),
    ],
)
def test_refers_to_other(text, expected):
    assert refers_to_other(text) is expected


@pytest.mark.parametrize("text", ["I don't have my order number", "no problem", "yes"])
def test_not_denials(text):
    assert not is_denial(text)


@pytest.mark.parametrize(
    "text",
    [
        "wait, not that one",
        "no, the other order",
        "sorry I meant the savings",
        "actually it's Thursday",
    ],
)
def test_corrections(text):
    assert is_correction(text)


@pytest.mark.parametrize("text", ["yes please", "where is my order", "I'm waiting for it"])
def test_not_corrections(text):
    assert not is_correction(text)


def test_yes_but_correction_is_not_affirmation():
    assert not is_affirmation("yes, but I meant savings")


def test_dtmf_fills_the_expected_slot():
    got = understand("", "4521#", expecting="order_number")
    assert got.values["order_number"] == "4521" and got.source == "dtmf"
    got = understand("", "1234#", expecting="card_last4")
    assert got.values["card_last4"] == "1234"


def test_dtmf_zero_is_a_person():
    assert understand("", "0").intent == "speak_to_human"
    assert understand("", "0#").confidence == 1.0


def test_dtmf_beats_misheard_speech():
    got = understand("four five to won", "4522#", expecting="order_number")
    assert got.values["order_number"] == "4522"


def test_dtmf_values_edge_cases():
    assert dtmf_values("", "order_number") == (None, {})
    assert dtmf_values("*#", "order_number") == (None, {})
    assert dtmf_values("250#", "amount") == (None, {"amount": Decimal("250")})
    assert dtmf_values("98761234", "card_last4") == (None, {"card_last4": "1234"})
