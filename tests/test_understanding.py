"""The understanding layer as shipped: the trained classifier artefact plus slots.

Every sentence here was written for this file, as Whisper would write a caller's words on a
phone line (fillers, run-ons, numbers as words). None of them is in the training corpus or the
development dialogues (the last test checks that), so these tests measure what the model
understands, not what it remembers.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from understanding_labels import ACTS, INTENTS

from voice.dialogue.classifier import DEFAULT_MODEL, TurnClassifier, TurnScores
from voice.dialogue.slots import SlotContext
from voice.dialogue.understanding import LINE_OF, Reader, negated_intents, with_topic
from voice.engines.embeddings import shared_embedder

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 12, 7)  # a Monday


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(TurnClassifier.load(shared_embedder()))


@pytest.fixture(scope="module")
def read(reader: Reader):
    def read(
        text: str,
        *,
        expecting: str | None = None,
        intent: str | None = None,
        dtmf: str = "",
        topic: str | None = None,
    ):
        ctx = SlotContext(today=TODAY, expecting=expecting, intent=intent)
        return reader.read(text, ctx, dtmf, topic=topic)

    return read


# -- the artefact ----------------------------------------------------------------------------


def test_the_shipped_artefact_loads_with_the_agreed_labels():
    assert DEFAULT_MODEL.exists() and DEFAULT_MODEL.with_suffix(".json").exists()
    classifier = TurnClassifier.load(shared_embedder())
    assert set(classifier.intent_head.classes) == INTENTS
    assert set(classifier.act_head.classes) == ACTS
    meta = classifier.meta
    assert "MiniLM" in meta["embedding_model"]
    for head in ("intent", "act"):
        held_out = meta["held_out"][head]
        assert held_out["accuracy"] > 0.8, (head, held_out["accuracy"])
        # calibrated: a confidence of p is right about p of the time (within a few points)
        assert held_out["ece_calibrated"] < 0.08, (head, held_out["ece_calibrated"])
        assert meta[f"{head}_temperature"] > 0


def test_probabilities_are_a_distribution_best_first(reader: Reader):
    scores = reader._classifier.score(["Where has my parcel got to?", "Cheers, bye."])
    for turn in scores:
        assert isinstance(turn, TurnScores)
        for ranked in (turn.intents, turn.acts):
            probabilities = [p for _, p in ranked]
            assert probabilities == sorted(probabilities, reverse=True)
            assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)


# -- plain requests of each business line ----------------------------------------------------

REQUESTS = [
    # shop
    ("Hi, um, I'm wondering where my package is, it was meant to be here by now.",
     "order_status"),
    ("Could you tell me when my hiking boots are due to turn up?", "order_status"),
    ("Can you give me the tracking number for the lamp?", "order_tracking"),
    ("Who's delivering my order, is it UPS or FedEx?", "order_tracking"),
    ("How much was the total on my last order?", "order_details"),
    ("I'd like to cancel the sleeping bag I ordered, I don't need it any more.", "order_cancel"),
    ("Please can I change the delivery address on my order to my work?", "order_change"),
    ("It says delivered but there's nothing on my doorstep.", "order_missing"),
    ("The jacket you sent is the wrong size, I want to send it back.", "return_request"),
    ("The mug came smashed, I'd like my money back.", "return_request"),
    ("I sent the dress back last week, has the refund come through?", "return_status"),
    ("How much is the standing desk on your website?", "shop_product"),
    # bank
    ("Could you tell me how much I've got in my current account?", "account_balance"),
    ("What's the balance on my savings please?", "account_balance"),
    ("I've had my purse stolen, I need my card cancelled straight away.", "card_block"),
    ("I think somebody's copied my card, can you freeze it?", "card_block"),
    ("My card keeps getting declined, can you turn it back on?", "card_unblock"),
    ("Is my debit card blocked at the moment?", "card_status"),
    ("My new card never came in the post.", "card_replace"),
    ("Can you send two hundred dollars to my son's account?", "transfer_money"),
    ("I got charged twice for the same thing.", "transaction_dispute"),
    ("Did my salary go in this morning?", "transaction_history"),
    ("I've locked myself out of online banking.", "pin_help"),
    ("I'd like to apply for a personal loan.", "bank_product"),
    # clinics
    ("Can I get an appointment with the dentist next week?", "appointment_book"),
    ("I need to reschedule my blood test to a later date.", "appointment_move"),
    ("I won't be able to make my appointment, please cancel it.", "appointment_cancel"),
    ("When's my next appointment with you?", "appointment_info"),
    ("Which clinic is my appointment at?", "appointment_info"),
    ("I'm running low on my inhaler and need a new prescription.", "prescription"),
    ("Did my x-ray results come back?", "test_results"),
    ("My throat has been sore for a week, should I be worried?", "medical_advice"),
    # any line
    ("Will you be open this coming Sunday?", "opening_hours"),
    ("Is there parking at the dental practice?", "location"),
    ("How long does a refund take once you get the item back?", "policy_question"),
    ("Let me speak to your manager.", "speak_to_human"),
    ("I want to make a formal complaint about your service.", "complaint"),
    ("Could somebody give me a call back this afternoon?", "callback_request"),
    ("I've moved house and need to change my address on the account.", "update_details"),
    ("Wait, am I speaking to a robot?", "bot_question"),
    ("Who won the football last night?", "out_of_scope"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "intent"), REQUESTS)
def test_a_plain_request_is_read_as_what_it_asks(read, text, intent):
    reading = read(text)
    assert (reading.intent, reading.requests) == (intent, [intent]), reading.alternatives
    assert reading.confidence >= 0.5


def test_every_business_line_has_requests_here():
    lines = {LINE_OF[intent] for _, intent in REQUESTS if intent in LINE_OF}
    assert lines == {"shop", "bank", "clinic"}
    assert {intent for _, intent in REQUESTS} >= INTENTS - {"none"}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I'd like to send back the smart watch band.", "return_request"),
        ("I want to send back order four five two one.", "return_request"),
        pytest.param(
            "My card's gone missing, I think it was taken on the bus.",
            "card_block",
            marks=pytest.mark.xfail(
                reason="read as order_missing: a card that has 'gone "
                "missing' is a parcel to the classifier",
                strict=True,
            ),
        ),
    ],
)
def test_misreads_seen_while_writing_these_tests(read, text, intent):
    assert read(text).intent == intent


# Harder, telephone-like variants: fillers, numbers as words, mishearings. Most must be right.
HARDER = [
    ("uh yeah so the order four five seven seven it hasn't showed up and it's like tuesday",
     "order_status"),
    ("where's the parcel at, my son says the UPS guy never came", "order_status"),
    ("can you tell me the tracking for order forty five twenty one", "order_tracking"),
    ("i need to send back the coffee thing it leaks everywhere", "return_request"),
    ("okay so the headphones um I don't want them any more can you stop the order",
     "order_cancel"),
    ("the parcel came with the lunch bag but no bottles in it", "order_missing"),
    ("black my card please someone took my wallet on the train", "card_block"),
    ("how much money have I got um in the savings", "account_balance"),
    ("the card ending seven seven three three is it still working", "card_status"),
    ("i wanna move like five hundred bucks over to my daughter", "transfer_money"),
    ("there's a payment to some company I never heard of for ninety nine dollars",
     "transaction_dispute"),
    ("i'd like a point meant for a check up please", "appointment_book"),
    ("can i shift my cleaning to next thursday instead", "appointment_move"),
    ("i can't come in on saturday so just cancel the check up", "appointment_cancel"),
    ("what time's my jab tomorrow", "appointment_info"),
    ("who's the doctor I'm seeing on saturday", "appointment_info"),
    ("what time do you lot shut on a saturday", "opening_hours"),
    ("how do I get to the dentist on river road", "location"),
    ("could I be put through to someone in the office", "speak_to_human"),
    ("is there a real human I can talk to", "speak_to_human"),
]  # fmt: skip


def test_most_telephone_like_requests_are_read_right(read):
    wrong = [(text, want, read(text).intent) for text, want in HARDER]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert len(wrong) <= 2, wrong


# -- dialogue acts ---------------------------------------------------------------------------

ACT_TURNS = [
    ("Yes, go for it.", "yes"),
    ("Yeah, that's the one, do it.", "yes"),
    ("Sure thing, please go ahead.", "yes"),
    ("No, please don't.", "no"),
    ("Nah, leave it for now.", "no"),
    ("Sorry, I meant the Wednesday.", "correction"),
    ("No, I said four four one zero, not four four one one.", "correction"),
    ("Wait, actually, make it eleven instead.", "correction"),
    ("Thanks so much for that.", "thanks"),
    ("Oh brilliant, thank you.", "thanks"),
    ("That's all I needed, bye bye.", "goodbye"),
    ("Right, that's everything, goodbye.", "goodbye"),
    ("Hello, good morning.", "greeting"),
    ("Hello there, can you hear me okay?", "greeting"),
    ("Sorry, say that again?", "repeat"),
    ("Pardon? What was that?", "repeat"),
    ("Hold on one minute.", "wait"),
    ("Just a second, let me grab my card.", "wait"),
]


@pytest.mark.parametrize(("text", "act"), ACT_TURNS)
def test_a_conversational_move_is_read_as_its_act_without_a_task(read, text, act):
    reading = read(text)
    assert reading.act == act
    assert reading.requests == [] and reading.intent == "none"


def test_a_correction_carries_the_value_it_revises(read):
    reading = read("No, I said four four one zero, not four four one one.", intent="order_status")
    assert reading.act == "correction" and reading.values.get("order_number") == "4410"
    moved = read("Sorry, I meant the Wednesday.", intent="appointment_book")
    assert moved.values["date"] == date(2026, 12, 9)


# -- a greeting or "okay" in front of a request ------------------------------------------------

OPENED = [
    ("Hello hi, I'm ringing about the headphones I ordered, they haven't come.", "order_status"),
    ("Hi there, can you tell me what's in my checking account?", "account_balance"),
    ("Good morning, I'd like to book in for a blood test.", "appointment_book"),
    ("Okay so, my card has been stolen and I need it blocked.", "card_block"),
    ("Okay, and when is my dental cleaning?", "appointment_info"),
    ("Yeah hello, what's the tracking number on my parcel?", "order_tracking"),
]


@pytest.mark.parametrize(("text", "intent"), OPENED)
def test_a_greeting_or_okay_before_a_request_is_the_request(read, text, intent):
    reading = read(text)
    assert reading.act == "request" and reading.intent == intent
    assert reading.requests == [intent]


# -- negation and direction ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I don't want it cancelled, I just want to know when it is.",
        "I'm not looking to cancel it, I only need to know what time it is.",
        "No need to cancel anything, when's my appointment again?",
    ],
)
def test_not_cancelling_is_never_a_cancellation(read, text):
    for topic in (None, "appointment_cancel", "appointment_info"):
        reading = read(text, topic=topic)
        assert "appointment_cancel" not in reading.requests, (topic, reading.requests)
        assert "appointment_cancel" in reading.negated
        assert reading.intent == "appointment_info"


@pytest.mark.parametrize(
    "text",
    ["Don't block it, I've found it in my coat.", "No, don't block the card, it turned up."],
)
def test_dont_block_marks_blocking_negated(read, text):
    reading = read(text, topic="card_block")
    assert "card_block" in reading.negated and "card_block" not in reading.requests
    assert reading.act == "no"


@pytest.mark.parametrize(
    "text",
    [
        "The other card's okay though, isn't it? Leave that one alone then.",
        "Actually just leave it as it is, I'll keep the Thursday slot.",
        "No no, don't touch anything, I only wanted to know.",
    ],
)
def test_leave_it_alone_asks_for_no_action(read, text):
    for topic in ("card_block", "appointment_move", None):
        reading = read(text, topic=topic)
        assert not {"card_block", "appointment_move", "appointment_cancel"} & set(
            reading.requests
        ), (topic, reading.requests)


def test_negation_only_reaches_the_verb_it_governs():
    assert negated_intents("Please don't transfer me, just block my card.") == {"speak_to_human"}
    assert negated_intents("I never got my parcel, can I return the lamp instead?") == set()
    assert negated_intents("Block my card, I don't know where it is.") == set()


@pytest.mark.parametrize(
    "text",
    [
        "Please unfreeze my card.",
        "The bank froze my card and I need it working again.",
        "Can you unblock the card ending two two zero nine?",
    ],
)
def test_unfreezing_is_never_read_as_blocking(read, text):
    reading = read(text, topic="card_block")
    assert reading.intent == "card_unblock" and "card_block" not in reading.requests


# -- several requests in one turn ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "requests"),
    [
        ("Please block my card and also tell me my balance.", ["card_block", "account_balance"]),
        ("What's my checking balance and also can you block my card?",
         ["account_balance", "card_block"]),
        ("When is my check-up and also where is the clinic?", ["appointment_info", "location"]),
        ("Where's my order, and also what's the return window?",
         ["order_status", "policy_question"]),
    ],
)  # fmt: skip
def test_two_requests_joined_by_and_also_are_both_read_in_order(read, text, requests):
    reading = read(text)
    assert reading.requests == requests
    assert reading.intent == requests[0]


# -- the keypad ------------------------------------------------------------------------------


def test_keypad_digits_fill_the_slot_that_was_asked_for(read):
    order = read("", dtmf="4521#", expecting="order_number")
    assert order.values["order_number"] == "4521" and order.act == "inform"
    assert order.keypad == "4521"
    card = read("", dtmf="4111222233337733#", expecting="card_last4")
    assert card.values["card_last4"] == "7733"
    # digits typed while saying something: the words are read, the digits are exact
    said = read("it's this one", dtmf="4388#", expecting="order_number")
    assert said.values["order_number"] == "4388"


def test_keypad_zero_asks_for_a_person(read):
    for expecting in (None, "order_number", "card_last4"):
        reading = read("", dtmf="0", expecting=expecting)
        assert reading.intent == "speak_to_human" and reading.requests == ["speak_to_human"]
        assert "order_number" not in reading.values


# -- the topic prior -------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["card_block", "order_status", "appointment_cancel", None])
@pytest.mark.parametrize("text", ["Put me through.", "Can you put me through to someone please?"])
def test_the_topic_never_turns_put_me_through_into_a_task(read, topic, text):
    reading = read(text, topic=topic)
    assert reading.intent == "speak_to_human" and reading.requests == ["speak_to_human"]


def test_the_topic_prior_moves_mass_only_among_tasks():
    scores = TurnScores(
        [("speak_to_human", 0.4), ("order_status", 0.3), ("card_block", 0.2), ("none", 0.1)],
        [("request", 1.0)],
    )
    tipped = dict(with_topic(scores, "card_status").intents)
    assert tipped["speak_to_human"] == pytest.approx(0.4)
    assert tipped["none"] == pytest.approx(0.1)
    assert tipped["card_block"] > tipped["order_status"]
    assert tipped["card_block"] + tipped["order_status"] == pytest.approx(0.5)
    assert with_topic(scores, None) is scores and with_topic(scores, "complaint") is scores


# -- these sentences are new to the model ----------------------------------------------------


def _normalised(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def test_no_sentence_here_is_in_the_corpus_or_the_dialogues():
    known = set()
    for path in (ROOT / "data" / "understanding" / "train").glob("*.jsonl"):
        known |= {
            _normalised(json.loads(line)["text"])
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        }
    for path in (ROOT / "data" / "dialogues").glob("*.yaml"):
        turns = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("turns") or []
        known |= {_normalised(t["say"]) for t in turns if isinstance(t.get("say"), str)}
    ours = [text for text, _ in [*REQUESTS, *HARDER, *ACT_TURNS, *OPENED]]
    copied = [text for text in ours if _normalised(text) in known]
    assert copied == []
