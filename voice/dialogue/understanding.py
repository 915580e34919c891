"""What one caller turn says: the move it makes, what it is about, and the values in it.

The trained classifier (`voice.dialogue.classifier`) gives every turn one dialogue act (yes, no,
correction, request, ...) and a ranked list of intents with calibrated probabilities, "none of
these" (`none`) and "not for us" (`out_of_scope`) included. Two things sit beside it because a
classifier over a whole turn cannot see them:

- several requests in one turn ("block my card and also tell me my balance"): the turn is cut
  where a new request starts, the pieces are classified in the same batch, and the requests are
  kept in the order said;
- actions the caller says NOT to take ("I don't want it cancelled", "don't block it"): a
  negation in front of an action's verb removes that action from what the turn asks for, so the
  agent can never offer the opposite of the request.

Slot values come from `voice.dialogue.slots` (libraries first), keypad digits are exact and
fill the slot the agent asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from voice.dialogue.classifier import TurnClassifier, TurnScores
from voice.dialogue.slots import SlotContext, extract

# Where a second request starts: an explicit "and also", "another thing", "and can you ...".
# Not every sentence break: "I lost my card at the shop. Can you stop it?" is one request, and
# a sentence read without the ones around it is easily misread.
_REQUEST_BREAK = re.compile(
    r"[,;.?!]?\s+\b(?:and also|also|plus|as well as|oh and|and then|another thing|"
    r"one more thing|and (?=(?:can|could|would|will|what|what's|when|when's|where|where's|how|"
    r"is|are|do|does|i'd|i would|i want|i need|please|tell me)\b))\b[,\s]*",
    re.IGNORECASE,
)
# Negation in front of an action's verb, within a few words: "don't block it", "I don't want
# it cancelled", "no need to transfer me", "not a refund".
_NEGATION = r"\b(?:don'?t|do not|does not|doesn'?t|not|never|no need to|without|rather not)\b"
_ACTION_WORDS = {
    "cancel": ("appointment_cancel", "order_cancel"),
    "block": ("card_block",),
    "freeze": ("card_block",),
    "stop": ("card_block",),
    "lock": ("card_block",),
    "unblock": ("card_unblock",),
    "unfreeze": ("card_unblock",),
    "return": ("return_request",),
    "refund": ("return_request",),
    "send it back": ("return_request",),
    "book": ("appointment_book",),
    "move": ("appointment_move",),
    "reschedule": ("appointment_move",),
    "transfer me": ("speak_to_human",),
    "put me through": ("speak_to_human",),
    "connect me": ("speak_to_human",),
    "a person": ("speak_to_human",),
    "a human": ("speak_to_human",),
    "an agent": ("speak_to_human",),
}
_NEGATED = [
    (
        re.compile(rf"{_NEGATION}(?:\s+\w+){{0,3}}?\s+(?:a |an |the |it |them )?{word}\w*", re.I),
        intents,
    )
    for word, intents in _ACTION_WORDS.items()
]
# "Leave that alone", "don't touch it", "leave it as it is": keep things as they are, so no
# action of any kind is asked for, whatever the classifier makes of the rest of the turn.
_KEEP_AS_IS = re.compile(
    r"\b(leave ((it|that|them|this)( one)?|the \w+( \w+)?) (alone|be|as (it is|they are|is))|"
    r"(don'?t|do not) (touch|change) (it|that|them|anything)|leave it\W*$)",
    re.I,
)
_ACTIONS_KEPT = frozenset(i for intents in _ACTION_WORDS.values() for i in intents) - {
    "speak_to_human"
}
# Intents that name a task the caller wants done or answered (not a move of the conversation).
NOT_REQUESTS = frozenset({"none"})
SECOND_REQUEST_CONFIDENCE = 0.8
SENTENCE_REQUEST_CONFIDENCE = 0.85
# The business line of each task intent: an unclear follow-up ("and when's the one I've still
# got?") is most likely about what the call is already about.
LINES = {
    "shop": (
        "order_status",
        "order_tracking",
        "order_details",
        "order_cancel",
        "order_change",
        "order_missing",
        "return_request",
        "return_status",
        "shop_product",
    ),
    "bank": (
        "account_balance",
        "card_block",
        "card_unblock",
        "card_status",
        "card_replace",
        "transfer_money",
        "transaction_dispute",
        "transaction_history",
        "pin_help",
        "bank_product",
    ),
    "clinic": (
        "appointment_book",
        "appointment_move",
        "appointment_cancel",
        "appointment_info",
        "prescription",
        "test_results",
        "medical_advice",
    ),
}
LINE_OF = {intent: line for line, intents in LINES.items() for intent in intents}
TOPIC_PRIOR = 6.0  # how much likelier an intent of the current line is, before the words


@dataclass
class Reading:
    """One caller turn, understood."""

    text: str
    act: str
    act_confidence: float
    intent: str  # the first thing asked for, or "none"
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # everything asked for, in order
    values: dict[str, Any] = field(default_factory=dict)
    negated: frozenset[str] = frozenset()
    keypad: str = ""

    def asks(self, intent: str) -> bool:
        return intent in self.requests


def negated_intents(text: str) -> frozenset[str]:
    """Intents the caller says not to act on ("don't block it" -> card_block)."""
    found: set[str] = set()
    for pattern, intents in _NEGATED:
        if pattern.search(text):
            found.update(intents)
    if _KEEP_AS_IS.search(text):
        found.update(_ACTIONS_KEPT)
    return frozenset(found)


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.?!])\s+", text) if len(p.strip()) > 3]
    return parts if len(parts) > 1 else []


def request_pieces(text: str) -> list[str]:
    """The turn cut where a new request may start; [] when it is one piece."""
    pieces = [p.strip(" ,.") for p in _REQUEST_BREAK.split(text) if p and len(p.strip()) > 3]
    return pieces if len(pieces) > 1 else []


class Reader:
    def __init__(self, classifier: TurnClassifier) -> None:
        self._classifier = classifier

    def read(
        self, text: str, ctx: SlotContext, dtmf: str = "", topic: str | None = None
    ) -> Reading:
        """`topic`: the task the call is on; it tips an unclear turn towards its line."""
        text = text.strip()
        if not text:
            return _with_keypad(Reading("", "inform", 1.0, "none", 1.0), dtmf, ctx)
        pieces, sentences = _scored_parts(text)
        scores = self._classifier.score([text, *pieces, *sentences])
        whole = with_topic(scores[0], topic)
        if whole.intent[0] in NOT_REQUESTS and sentences:
            # "Ha, okay, no, that's fine. When's my vaccination?": the request is in one
            # sentence, the rest is small talk that drowns it in the whole turn.
            found = [
                s
                for s in scores[1 + len(pieces) :]
                if s.intent[0] in LINE_OF and s.intent[1] >= SENTENCE_REQUEST_CONFIDENCE
            ]
            if found:
                whole = TurnScores(found[-1].intents, whole.acts)
        scores = scores[: 1 + len(pieces)]
        negated = negated_intents(text)
        intent, confidence = whole.intent
        act, act_confidence = whole.act
        requests = _requests(whole, list(zip(pieces, scores[1:], strict=True)), negated)
        if intent in negated or intent in NOT_REQUESTS:
            intent, confidence = (
                (requests[0], whole_probability(whole, requests[0]))
                if requests
                else ("none", dict(whole.intents).get("none", 0.0))
            )
        # An answer to the agent's question is read as that task's values ("like six?" after
        # "which day?" is a time for the booking), otherwise as this turn's own intent's.
        slot_intent = ctx.intent if ctx.expecting or intent == "none" else intent
        values = extract(text, replace(ctx, intent=slot_intent))
        reading = Reading(
            text,
            act,
            act_confidence,
            intent,
            confidence,
            whole.intents[:4],
            requests,
            values,
            negated,
        )
        return _with_keypad(reading, dtmf, ctx) if dtmf else reading

    def anticipate(self, text: str) -> None:
        """Embed now what `read(text)` will: called while the turn may still go on, so that
        reading it at its end costs no embedding (blocking; the vectors are cached)."""
        text = text.strip()
        if text:
            self._classifier.features([text, *[p for ps in _scored_parts(text) for p in ps]])


def _scored_parts(text: str) -> tuple[list[str], list[str]]:
    """The request pieces of a turn, or (when it has none) its sentences: each is scored."""
    pieces = request_pieces(text)
    return pieces, (_sentences(text) if not pieces else [])


def with_topic(scores: TurnScores, topic: str | None) -> TurnScores:
    """Among the business tasks, those of the call's current line made likelier. The mass of
    everything else (a person, "none", small talk) is left as the words gave it: context may
    decide between two tasks, never turn "put me through" into a task."""
    line = LINE_OF.get(topic or "")
    if line is None:
        return scores
    tasks = [(i, p) for i, p in scores.intents if i in LINE_OF]
    mass = sum(p for _, p in tasks)
    weighted = [(i, p * (TOPIC_PRIOR if LINE_OF[i] == line else 1.0)) for i, p in tasks]
    total = sum(p for _, p in weighted) or 1.0
    rescaled = {i: p * mass / total for i, p in weighted}
    ranked = sorted(((i, rescaled.get(i, p)) for i, p in scores.intents), key=lambda x: -x[1])
    return TurnScores(ranked, scores.acts)


def whole_probability(scores: TurnScores, intent: str) -> float:
    return dict(scores.intents).get(intent, 0.0)


def _requests(
    whole: TurnScores, pieces: list[tuple[str, TurnScores]], negated: frozenset[str]
) -> list[str]:
    """What the turn asks for, in the order said: the whole turn's intent, plus any piece that
    confidently asks for something else."""
    first = next((i for i, _ in whole.intents if i not in negated), "none")
    found: list[tuple[int, str]] = []
    for position, (_, scores) in enumerate(pieces):
        intent, p = scores.intent
        if intent not in NOT_REQUESTS and intent not in negated and p >= SECOND_REQUEST_CONFIDENCE:
            found.append((position, intent))
    ordered = list(dict.fromkeys(i for _, i in sorted(found)))
    if first not in NOT_REQUESTS and first not in ordered:
        ordered.insert(0, first)
    return ordered if len(ordered) > 1 else ([first] if first not in NOT_REQUESTS else [])


def _with_keypad(reading: Reading, dtmf: str, ctx: SlotContext) -> Reading:
    """Keypad digits are exact where speech is not: '0' asks for a person, other digits fill
    the slot the agent asked for."""
    keys = re.sub(r"[^0-9*#]", "", dtmf)
    digits = keys.split("#")[0].replace("*", "")
    reading.keypad = digits
    if not digits:
        return reading
    if digits == "0":
        reading.intent, reading.confidence, reading.requests = (
            "speak_to_human",
            1.0,
            ["speak_to_human"],
        )
        return reading
    slot = ctx.expecting or "number"
    if slot == "card_last4":
        reading.values["card_last4"] = digits[-4:]
    elif slot == "amount":
        from decimal import Decimal

        reading.values["amount"] = Decimal(digits)
    elif slot in ("order_number", "phone_number", "number"):
        reading.values[slot] = digits
    else:
        reading.values["number"] = digits
    if reading.act in ("request", "none") or not reading.text:
        reading.act = "inform"
    return reading
