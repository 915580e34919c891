"""The escalation policy: the rules on scripted scores, then whole calls read by the classifier."""

from __future__ import annotations

import os

import pytest

from voice.escalation.policy import (
    CallerTurnSignal,
    EscalationDecision,
    EscalationPolicy,
    asks_for_person,
)
from voice.escalation.sentiment import SentimentClassifier, SentimentScore

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def scored(index: int, text: str, score: float, p: float, **extra) -> CallerTurnSignal:
    label = "negative" if score < -0.2 else "positive" if score > 0.2 else "neutral"
    return CallerTurnSignal(index, text, SentimentScore(label, score, p), **extra)


def run(policy: EscalationPolicy, turns: list[CallerTurnSignal]) -> list[EscalationDecision]:
    return [d for d in map(policy.observe, turns) if d is not None]


@pytest.fixture(scope="module")
def classifier() -> SentimentClassifier:
    return SentimentClassifier.load()


def read(
    classifier: SentimentClassifier, texts: list[str], topic: str | None = None
) -> list[CallerTurnSignal]:
    return [
        CallerTurnSignal(i, t, s, topic=topic)
        for i, (t, s) in enumerate(zip(texts, classifier.predict_many(texts), strict=True))
    ]


def test_sustained_upset_escalates_on_the_second_upset_turn():
    turns = [
        scored(0, "Hi, it's about my order.", 0.0, 0.05),
        scored(1, "It was due last week and it still isn't here.", -0.7, 0.7, topic="a late order"),
        scored(2, "I've called three times and nobody helps.", -0.8, 0.8, topic="a late order"),
        scored(3, "Honestly this is ridiculous.", -0.9, 0.85),
    ]
    [decision] = run(EscalationPolicy(), turns)
    assert decision.rule == "sustained_negative" and decision.turn == 2
    assert decision.turns == (0, 1, 2) and decision.scores == (0.0, -0.7, -0.8)
    assert decision.reason == "Caller has been upset for 2 turns about a late order"


def test_keypad_turns_do_not_dilute_the_mood_window():
    """Digits typed between two upset turns are not a calm turn: the window still sees anger."""
    turns = [
        scored(0, "It was due last week and it still isn't here.", -0.7, 0.7),
        scored(1, "", 0.0, 0.0, dtmf="4521#"),
        scored(2, "", 0.0, 0.0, dtmf="1#"),
        scored(3, "I've called three times and nobody helps.", -0.8, 0.8),
    ]
    [decision] = run(EscalationPolicy(), turns)
    assert decision.rule == "sustained_negative" and decision.turns == (0, 3)


def test_a_keypad_first_turn_is_not_an_error():
    assert EscalationPolicy().observe(scored(0, "", 0.0, 0.0, dtmf="4521#")) is None


def test_single_mildly_negative_turn_never_escalates():
    policy = EscalationPolicy()
    assert policy.observe(scored(0, "That's a bit annoying, but fine.", -0.95, 0.05)) is None
    assert policy.observe(scored(1, "Oh well, when's the next slot?", -0.6, 0.2)) is None
    assert policy.observe(scored(2, "Okay, Tuesday then.", 0.0, 0.02)) is None


def test_one_rude_word_never_escalates():
    assert EscalationPolicy().observe(scored(0, "Damn!", -0.95, 0.95)) is None


def test_sharp_turn_escalates_at_once():
    decision = EscalationPolicy().observe(
        scored(0, "This is the worst service I have ever had, I'm furious.", -0.97, 0.98)
    )
    assert decision is not None and decision.rule == "sharp_negative" and decision.turns == (0,)


def test_dtmf_zero_escalates_at_once():
    decision = EscalationPolicy().observe(scored(0, "", 0.0, 0.0, dtmf="0"))
    assert decision is not None and decision.rule == "dtmf_zero"
    assert decision.reason == "Caller pressed 0 to reach a person"
    assert EscalationPolicy().observe(scored(0, "", 0.0, 0.0, dtmf="1")) is None


def test_asking_for_a_person_needs_both_words_and_confidence():
    confident_words = scored(0, "Could I speak to someone, please?", 0.0, 0.95)
    words_only = scored(0, "I don't need to speak to anyone, thanks.", 0.0, 0.1)
    confidence_only = scored(0, "My name is Sarah Jones.", 0.0, 0.9)
    assert EscalationPolicy().observe(confident_words).rule == "human_request"
    assert EscalationPolicy().observe(words_only) is None
    assert EscalationPolicy().observe(confidence_only) is None


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("agent", True),
        ("Operator, please.", True),
        ("can I talk to a person", True),
        ("Put me through to your manager", True),
        ("Transfer me.", True),
        ("Where is my order?", False),
        ("The estate agent needs a letter from the bank", False),
    ],
)
def test_person_request_words(text, asks):
    assert asks_for_person(text) is asks


def test_repeated_failure_of_the_same_request_escalates():
    turns = [
        scored(0, "Where's my order?", 0.0, 0.1, agent_failed=True, request_key="order_status"),
        scored(1, "And my refund?", 0.0, 0.1, agent_failed=True, request_key="refund"),
        scored(
            2, "So where is the order?", -0.2, 0.2, agent_failed=True, request_key="order_status"
        ),
    ]
    [decision] = run(EscalationPolicy(), turns)
    assert decision.rule == "repeated_failure" and decision.turns == (0, 2)
    assert decision.reason == "The agent could not help with order status 2 times"


def test_never_escalates_twice():
    policy = EscalationPolicy()
    first = policy.observe(scored(0, "agent", 0.0, 0.99))
    later = [
        policy.observe(scored(i, "Get me a manager, this is a disgrace.", -0.99, 0.99, dtmf="0"))
        for i in range(1, 4)
    ]
    assert first is not None and later == [None, None, None] and policy.decision is first


def test_angry_call_escalates_on_the_right_turn(classifier):
    turns = read(
        classifier,
        [
            "Hi, I'm calling about my order, it hasn't arrived yet.",
            "It was supposed to come last week and the tracking hasn't changed since Monday.",
            "This is the third time I've called and nobody does anything, I'm really fed up.",
            "Are you even listening to me?",
        ],
        topic="a late order",
    )
    policy = EscalationPolicy()
    decisions = [policy.observe(t) for t in turns]
    assert decisions[:2] == [None, None]
    assert decisions[2] is not None and decisions[2].turn == 2
    assert decisions[2].rule in ("sharp_negative", "sustained_negative")
    assert "a late order" in decisions[2].reason and decisions[3] is None


def test_calm_call_never_escalates(classifier):
    turns = read(
        classifier,
        [
            "Hello, I'd like to check on my order please.",
            "It's order four five seven one two.",
            "Oh, that's a shame it's running late. Will it come tomorrow?",
            "That's a bit annoying, but fine.",
            "Lovely, thank you, that's everything. Bye.",
        ],
    )
    assert run(EscalationPolicy(), turns) == []


def test_polite_request_for_a_person_escalates_on_the_first_turn(classifier):
    [turn] = read(classifier, ["can I talk to a person"])
    decision = EscalationPolicy().observe(turn)
    assert decision is not None and decision.rule == "human_request"
    assert decision.reason == "Caller asked for a person"


def test_declining_a_person_does_not_escalate(classifier):
    turns = read(
        classifier,
        [
            "I don't need a person, you've answered everything",
            "the courier was rude but you've been lovely",
        ],
    )
    assert run(EscalationPolicy(), turns) == []


def test_asking_for_someone_by_name_escalates():
    from voice.escalation.policy import CallerTurnSignal, EscalationPolicy
    from voice.escalation.sentiment import SentimentScore

    sure = SentimentScore("neutral", 0.0, 0.986)
    decision = EscalationPolicy().observe(
        CallerTurnSignal(0, "Can I talk to Everton please?", sure)
    )
    assert decision is not None and decision.rule == "human_request"
    unsure = SentimentScore("neutral", 0.0, 0.5)
    assert (
        EscalationPolicy().observe(CallerTurnSignal(0, "Can I talk to Everton please?", unsure))
        is None
    )
