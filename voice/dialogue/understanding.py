"""What the caller wants and what they said: intent and slot values from one transcribed turn.

Intent comes from keyword rules first, written against the errors Whisper makes on 8 kHz phone
audio (they are predictable and cheap to check), then, when no rule fires, from the nearest
labelled example in data/intents.yaml by sentence embedding. Slot values (order number, card
digits, amount, date, time, ...) are read with voice.dialogue.numbers, so "for five to one" and
"the third of December" work, and DTMF digits typed on the keypad fill whichever slot the agent
just asked for.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from voice.dialogue.numbers import (
    DateMention,
    find_amounts,
    find_dates,
    find_times,
    number_runs,
)

INTENTS = (
    "order_status",
    "start_return",
    "complaint",
    "account_balance",
    "block_card",
    "transfer_money",
    "book_appointment",
    "move_appointment",
    "cancel_appointment",
    "opening_hours",
    "policy_question",
    "speak_to_human",
    "greeting",
    "goodbye",
    "affirm",
    "deny",
    "correction",
    "unknown",
)
EXAMPLES_PATH = Path(__file__).resolve().parents[2] / "data" / "intents.yaml"
EXAMPLE_THRESHOLD = 0.5  # below this cosine similarity the nearest example is a guess
MIN_IDENTIFIER_DIGITS = 3


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Understanding:
    intent: str
    confidence: float
    values: dict[str, Any] = field(default_factory=dict)
    source: str = "none"  # rules | examples | dtmf | none
    correction: bool = False  # the caller is correcting something they (or we) said


# --- normalising what Whisper wrote ----------------------------------------------------------

_CONTRACTIONS = [
    (r"\bcan'?t\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\bain't\b", "is not"),
    (r"n't\b", " not"),
    (r"\blet's\b", "let us"),
    (r"'m\b", " am"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"'d\b", " would"),
    (r"\b(what|where|that|it|there|here|how|who|when|he|she)'s\b", r"\1 is"),
    (r"\bwanna\b", "want to"),
    (r"\bgonna\b", "going to"),
    (r"\bgotta\b", "have to"),
]
# Mishearings seen on narrow-band calls; each maps to the word the caller said.
_MISHEARINGS = [
    (
        r"\b(a ?point ?ment|appoint ment|apointment|appointement|a pointment)(s?)\b",
        r"appointment\2",
    ),
    (r"\bre[- ]?(schedule|book)", r"re\1"),
    (r"\bcheck[- ]up\b", "checkup"),
    (r"\bfollow[- ]up\b", "followup"),
    (r"\bwear is my\b", "where is my"),
    (r"\b(chequing|checkings|cheque)\b", "checking"),
    (r"\bsaving account\b", "savings account"),
    (r"\bcanceled\b", "cancelled"),
    (r"\bcancelation\b", "cancellation"),
    (r"\bmy balanced\b", "my balance"),
    (r"\b(blog|black|bloc)( my| the)? card\b", r"block\2 card"),
    (r"\bhuman being\b", "human"),
    (r"\be-?mail\b", "email"),
    (r"\bre-?fund\b", "refund"),
    (r"^know\b", "no"),  # a turn opening with "no" is often written "Know"
]
# "46-01": Whisper hyphenates an identifier read in pairs; with an order or card in view the
# hyphen joins the halves (elsewhere "10-15" is a range). Asked for an identifier, it may also
# write "908.7" for "nine zero eight seven": no decimal point then either.
_DIGIT_HYPHEN = re.compile(r"(?<=\d)[-\u2013](?=\d)")
_DIGIT_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_IDENTIFIER_SLOTS = ("order_number", "card_last4")
_CARD_CONTEXT = re.compile(r"\b(block|lost|stole|stolen|freez|frozen|debit|credit|bank|lock|pin)")


def normalise(text: str) -> str:
    """Lower case, contractions spelled out, known mishearings fixed, punctuation dropped."""
    out = text.lower().replace("’", "'")
    for pattern, repl in _CONTRACTIONS + _MISHEARINGS:
        out = re.sub(pattern, repl, out)
    if _CARD_CONTEXT.search(out):
        out = re.sub(r"\bcart\b", "card", out)  # "I lost my cart": card, not a shopping cart
    out = re.sub(r"[^\w'\s]", " ", out)
    return re.sub(r"\s+", " ", out).strip()


# --- intent rules ----------------------------------------------------------------------------

_APPT = (
    r"(appointment|appt|booking|reservation|visit|checkup|cleaning|consultation|session|"
    r"exam|physical|followup|vaccination|flu shot|blood test|x ray|xray|scan|filling)s?"
)
_PERSON = (
    r"(human|person|agent|representative|rep|operator|someone|somebody|anyone|anybody|"
    r"manager|supervisor|staff member|people|customer service|member of staff|advisor)"
)
_GOODS = r"(order|package|parcel|delivery|shipment|stuff|items?|purchase|box)"
_ACCOUNT = r"(savings|checking|accounts?)"
_CARD = r"(card|cards|debit|credit|visa|mastercard|amex)"

# (intent, confidence, patterns), checked in this order; the first intent with a match wins.
_RULES: list[tuple[str, float, list[str]]] = [
    (
        "speak_to_human",
        0.95,
        [
            rf"\b(speak|talk|chat|speaking|talking)\b( \w+){{0,3}}? (to|with) (a |an |the |some |"
            rf"your )?(real |live |actual )?{_PERSON}\b",
            rf"\b(transfer|put|connect|pass|forward|get) me (through |over |on )?(to|with|onto) "
            rf"(a |an |the |some |your )?(real |live )?{_PERSON}\b",
            r"\b(real|live|actual) (human|person|agent|people)\b",
            r"^(i want |i need |give me |get me )?(a |an |the )?(human|agent|operator|"
            r"representative|person)( please| now)?$",
            r"\b(human|agent|operator|representative) please\b",
            r"\bi (want|need|would like) (a |an |to )?(human|agent|operator|representative)\b",
            r"\bnot (want to )?(talk|speak)\w* (to|with) (a |an )?(robot|machine|bot|computer)\b",
            # "Can I talk to Sarah?": on a support line whoever the caller names is a person, and
            # Whisper turns "a person" into names ("Upper Thin Pleas") often enough to matter.
            r"^(hi |hello |yes |yeah |um |so )*(can|could|may) i (please )?(speak|talk) (to|with) "
            r"(?!(you|u|yourself|about|the (bot|robot|machine|computer))\b)\w+",
        ],
    ),
    ("complaint", 0.9, [r"\b(complain|complaint|complaints|complaining|grievance)\b"]),
    (
        "block_card",
        0.9,
        [
            rf"\b(block|freeze|lock|cancel|stop|deactivate|suspend|disable|report)\w*\b( "
            rf"\w+){{0,3}} "
            rf"{_CARD}\b",
            rf"\b(lost|lose|losing|misplaced|stolen|stole|swallowed|can not find|missing|dropped)\b"
            rf"( \w+){{0,4}} ({_CARD}|wallet|purse)\b",
            rf"\b({_CARD}|wallet)\b( \w+){{0,4}} (lost|stolen|missing|compromised|hacked|cloned|"
            r"skimmed|swallowed|nicked)\b",
            r"\b(fraud|fraudulent|unauthori[sz]ed|scam|scammed|hacked)\b",
            r"\b(do not|did not) (recogni[sz]e|make|authori[sz]e)\b( \w+){0,3} (charges?|payments?|"
            r"transactions?|purchases?)\b",
            r"\bsomeone (is |has been |was )?(using|used) my (card|account)\b",
        ],
    ),
    (
        "move_appointment",
        0.9,
        [
            r"\b(reschedule|rebook)\b",
            rf"\b(move|change|shift|push|postpone|switch|bring|swap|delay)\b( \w+){{0,4}} "
            rf"{_APPT}\b",
            rf"\b{_APPT}\b( \w+){{0,4}} (to|for|until) (a |an )?(different|another|other|later|"
            r"earlier)\b",
            r"\b(can not|could not) (make|do|come)\b( \w+){0,4} (can|could) (we|i|you) "
            r"(do|make|move|"
            r"change|try|come)\b",
            rf"\b(later|earlier|different|another|new) (time|day|date|slot)\b.{{0,20}}\b{_APPT}\b",
        ],
    ),
    (
        "cancel_appointment",
        0.9,
        [
            rf"\bcancel\w*\b( \w+){{0,3}} {_APPT}\b",
            rf"\b{_APPT}\b( \w+){{0,4}} cancel",
            r"\b(can not|will not be able to|not be able to|unable to) (make it|make|come in|come|"
            r"attend)\b",
            rf"\b(call off|scrap|drop|remove|delete|take off)\b( \w+){{0,2}} {_APPT}\b",
            rf"\bnot (coming|going) (in )?to (my |the )?{_APPT}\b",
            rf"\bnot (going to|able to) (make|attend)( it to)? (my |the )?{_APPT}\b",
        ],
    ),
    (
        "book_appointment",
        0.9,
        [
            rf"\b(book|make|schedule|set up|arrange|get|need|want|like|request)\b( \w+){{0,3}} "
            rf"(an |a |the )?(new )?{_APPT}\b",
            r"\b(see|visit) (a|the|my) (doctor|dentist|nurse|hygienist|physio\w*|specialist|gp|"
            r"physician|dermatologist|optometrist)\b",
            r"\b(available|free|open) (slot|slots|appointment|appointments|times)\b",
            r"\b(any|some) (availability|openings?|appointments?|slots?)\b",
            r"\bfit me in\b",
            r"\b(dr|doctor|dentist|nurse|hygienist)\b.{0,20}\b(free|available)\b",
            r"\b(book|schedule) me\b",
        ],
    ),
    (
        "transfer_money",
        0.9,
        [
            rf"\b(transfer|move|send|wire|put|shift)\b( \S+){{0,5}} (to|into|from|between) "
            rf"(my |the |"
            rf"our )?(other )?{_ACCOUNT}\b",
            r"\b(transfer|send|wire)\b( \S+){0,3} (money|funds|cash|dollars|bucks|\d|hundred|"
            r"thousand)",
            r"\b(make|do|set up) a (transfer|payment|wire)\b",
            r"\b(money|funds|bank|wire) transfer\b",
            r"\bpay (my |the )?(landlord|rent|bill|friend|someone)\b",
            r"\bsend money\b",
            r"\be transfer\b",
        ],
    ),
    (
        "account_balance",
        0.9,
        [
            r"\bbalance\b",
            r"\bhow much (money )?(do i have|i have|is (there |left )?in|is left|"
            r"have i got|is on)\b",
            r"\bwhat is (in|left in|on) my (checking|savings|account)\b",
            r"\bavailable (funds|credit)\b",
            r"\bcheck (my )?(checking|savings|account)\b",
        ],
    ),
    (
        "opening_hours",
        0.9,
        [
            r"\b(opening|business|office|working|store|shop|clinic|branch|operating) hours\b",
            r"\bhours of (operation|business)\b",
            r"\bwhat (time|hours) (do|does|are|is) (you|it|they|the \w+|your \w+) (open|close|"
            r"closing|opening)\b",
            r"\bwhen (do|does|are|is) (you|it|they|the \w+|your \w+) "
            r"(open|close|closing|opening)\b",
            r"\b(are|is) (you|it|they|the \w+|your \w+) (still )?open\b",
            r"\bwhat are (your|the) hours\b",
            r"\bhow late (are|is|do)\b",
            r"\buntil what time\b",
            r"\b(open|closed) (on|this|today|tomorrow|tonight|sundays?|saturdays?|weekends?|"
            r"holidays?|now)\b",
        ],
    ),
    (
        "policy_question",
        0.85,
        [
            r"\bpolic(y|ies)\b",
            r"\bwarrant(y|ies)\b",
            r"\b(fee|fees|restocking|surcharge)\b",
            r"\bterms and conditions\b",
            r"\bwithout (a |the )?receipt\b",
            r"\bhow many days (do i have|to)\b",
            r"\bhow long (do i have|have i got)\b",
            r"\bdo you (offer|accept|ship|deliver|take|price match|charge)\b",
            r"\b(free|international) (shipping|delivery|returns?)\b",
            r"\binterest rates?\b",
            r"\b(return|refund|cancellation) (window|period|rules)\b",
            r"\bis there a (fee|charge|limit|penalty|minimum|maximum)\b",
            r"\bhow long (do|does|will|would) (refunds?|returns?|transfers?|shipping|delivery|"
            r"it take to get a refund|a refund|the refund|a transfer)\b",
            r"\bhow (do|does) (returns?|refunds?|exchanges?|shipping|transfers?) work\b",
            r"\bwhat happens if\b",
            r"\bam i allowed to\b",
            r"\bdo i (need|have) (a|an|the|to)\b",
        ],
    ),
    (
        "start_return",
        0.9,
        [
            r"\b(return|returning|refund|money back|exchange|replacement)\b",
            r"\b(send|ship|take) (it |this |them |something |an item |\w+ )?back\b",
            r"\b(damaged|broken|faulty|defective|wrong (size|item|colou?r))\b",
            r"\b(does|do) not fit\b",
            r"\btoo (small|big|large|tight|loose)\b",
            rf"^(?!.*\b{_CARD}\b).*\b(stopped|not|does not|do not|is not|are not) work(ing)?\b",
            r"\bcancel\w* (my |the |this |an |that )?order\b",
        ],
    ),
    (
        "complaint",
        0.85,
        [
            r"\b(unacceptable|ridiculous|terrible|horrible|awful|appalling|disgraceful|disgrace|"
            r"disgusting|outrageous|pathetic|useless|incompetent|worst|rude|shocking|nightmare|"
            r"hopeless|livid)\b",
            r"\b(this is|what) a joke\b",
            r"\b(charged|billed) (me )?(twice|double)\b",
            r"\bdouble (charged|billed)\b",
            r"\bhung up on me\b",
            r"\bnot (happy|pleased|satisfied)\b",
            r"\b(unhappy|disappointed|frustrated|furious|angry|upset|fed up|sick of|tired of|"
            r"annoyed|dissatisfied)\b",
            r"\b(poor|bad|lousy) (service|quality|experience)\b",
            r"\bkeep (messing|screwing) up\b",
            r"\bnobody (ever )?(calls|called|got) (me )?back\b",
            r"\bwaiting (on hold )?for (an hour|hours|weeks|ages|days|months)\b",
            r"\b(losing|lost|run out of) (my )?patience\b",
            r"\bnobody (has |will |ever )?(helped|helps|listens|cares)\b",
        ],
    ),
    (
        "order_status",
        0.9,
        [
            rf"\bwhere is (my|the|our) {_GOODS}\b",
            r"\b(track|tracking)\b",
            r"\border status\b",
            rf"\bstatus (of|on) (my |the )?{_GOODS}\b",
            rf"\b(has|have|did|is) (my |the )?({_GOODS}|it) (been )?(ship|shipped|arrive|arrived|"
            r"come|dispatched|sent|delivered|left)\b",
            rf"\bwhen (will|is|does|should|can|would) (my |the )?({_GOODS}|it)\b.{{0,20}}\b(arrive|"
            r"arriving|come|coming|delivered|get here|be here|ship|shipped|turn up|show up)\b",
            r"\b(not|never|still not) (yet )?(arrived|received|come|got|shown up|showed up|"
            r"turned up|been delivered)\b",
            rf"\bstill waiting (for|on) (my |the )?{_GOODS}\b",
            rf"\b{_GOODS}\b.{{0,30}}\b(late|delayed|missing|lost)\b",
            r"\bcheck (on )?(my |an |the )?order\b",
        ],
    ),
    (
        "order_status",
        0.7,
        [
            rf"\b(my|an|the) {_GOODS}\b",
            r"\border (number )?(\d+|zero|one|two|three|four|five|six|seven|eight|nine|for|oh)\b",
        ],
    ),
    (
        "goodbye",
        0.9,
        [
            r"\b(bye|goodbye|bye bye|see you|see ya|cheerio|farewell)\b",
            r"\bhave a (good|nice|great|lovely) (day|one|evening|night|weekend|afternoon)\b",
            r"\bthat is (all|everything|it for (today|now))\b",
            r"\bthat will be all\b",
            r"\bnothing else\b",
            r"\b(all|we are) done\b",
            r"\bhang up\b",
            r"^(ok |okay |alright )?(thanks|thank you)( so much| very much)?( for "
            r"(your|the|all the) "
            r"help)?$",
        ],
    ),
]
_TASKS = {intent for intent, _, _ in _RULES if intent != "goodbye"}
_COMPILED = [(intent, conf, [re.compile(p) for p in patterns]) for intent, conf, patterns in _RULES]
_GREETING = re.compile(
    r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)\b"
    r"|\bhow are you\b|\b(is )?anyone there\b|\bcan you hear me\b"
)

_AFFIRM = re.compile(
    r"^(yes|yeah|yea|yep|yup|ya|yah|yess|sure|certainly|correct|right|exactly|absolutely|"
    r"definitely|of course|ok|okay|o k|alright|all right|sounds good|that is (right|correct|it|"
    r"fine|good|perfect|great|true)|go ahead|go for it|do it|please do|perfect|great|fine|"
    r"affirmative|uh huh|mhm|mm hmm|indeed|that works|works for me|i think so|i guess)\b"
)
_SHORT = 8  # words: a longer turn that starts with "right," or "sure," is saying something else
_DENY = re.compile(
    r"^(no|nope|nah|naw|negative|not really|not now|not yet|do not|please do not|i do not think "
    r"so|i do not want|never mind|nevermind|forget it|cancel that|stop|hold off|leave it|"
    r"that is (not|wrong|incorrect)|wrong|incorrect|not right|not correct)\b"
)
_CORRECTION = re.compile(
    r"\b(i meant|i mean|meant to say|what i meant|i said|not that one|not this one|the other (one|"
    r"order|card|account|appointment|day|time|date)|other one|wrong (one|order|number|card|"
    r"account|date|day|time)|that is (wrong|not (it|right|correct|what i said|the one))|no wait|"
    r"wait|hold on|actually|correction|let me correct|i misspoke|scratch that|instead)\b"
    r"|^not (the|that|this) "
)
# A correction that names no value but points elsewhere: "no, the other one".
_OTHER = re.compile(r"\b(other|another|different|not (that|this) one|wrong one)\b")
# Friendly phrases that contain "no" but do not say no.
_NOT_A_NO = re.compile(r"\bno (problem|worries|rush|bother)\b")
_HEDGES = re.compile(r"\b(not|no|wait|actually|meant|mean|wrong|never mind|hold on)\b")


def is_affirmation(text: str) -> bool:
    """'yes please', 'yeah go ahead', 'that's right'; not 'yes, but I meant savings'."""
    norm = _NOT_A_NO.sub("", normalise(text)).strip()
    if not _AFFIRM.search(norm) or _DENY.search(norm) or len(norm.split()) > _SHORT:
        return False
    return not _HEDGES.search(norm)


def is_denial(text: str) -> bool:
    """'no', 'nope, don't', 'I don't think so'; not 'no problem' or 'I don't have it'."""
    norm = _NOT_A_NO.sub("", normalise(text)).strip()
    return bool(_DENY.search(norm))


def is_correction(text: str) -> bool:
    """'wait, not that one', 'sorry, I meant 4522', 'no, the other order'."""
    return bool(_CORRECTION.search(normalise(text)))


def refers_to_other(text: str) -> bool:
    """'no, the other order', 'not that one': the caller means another of what was offered."""
    return bool(_OTHER.search(normalise(text)))


def rule_intent(text: str) -> tuple[str, float] | None:
    """The first task intent (or goodbye) whose keyword patterns match, with a confidence."""
    norm = normalise(text)
    for intent, confidence, patterns in _COMPILED:
        if any(p.search(norm) for p in patterns):
            return intent, confidence
    return None


# --- nearest labelled example ----------------------------------------------------------------


@lru_cache(maxsize=4)
def load_examples(path: Path = EXAMPLES_PATH) -> tuple[tuple[str, str], ...]:
    """(intent, phrasing) pairs from the YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pairs = tuple((intent, phrase) for intent, phrases in data.items() for phrase in phrases)
    odd = [phrase for _, phrase in pairs if not isinstance(phrase, str)]
    if odd:  # YAML reads a bare yes / no as a boolean: quote them
        raise ValueError(f"{path}: phrasings must be strings, got {odd!r}")
    return pairs


_EXAMPLE_VECTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _example_matrix(embedder: Encoder) -> np.ndarray:
    """The examples' embeddings, computed once per embedder."""
    try:
        cached = _EXAMPLE_VECTORS.get(embedder)
    except TypeError:
        cached = None
    if cached is None:
        cached = embedder.encode([phrase for _, phrase in load_examples()])
        # Not weak-referenceable: recompute next time rather than keep the embedder alive.
        with contextlib.suppress(TypeError):
            _EXAMPLE_VECTORS[embedder] = cached
    return cached


def classify_by_examples(texts: Sequence[str], embedder: Encoder) -> list[tuple[str, float]]:
    """Nearest labelled example for each text (one batch): (intent, cosine similarity), or
    ('unknown', similarity) when even the nearest example is too far to trust."""
    if not texts:
        return []
    examples = load_examples()
    scores = embedder.encode(list(texts)) @ _example_matrix(embedder).T
    found = []
    for row in scores:
        best = int(np.argmax(row))
        score = float(row[best])
        found.append(
            (examples[best][0], score) if score >= EXAMPLE_THRESHOLD else ("unknown", score)
        )
    return found


def classify_by_example(text: str, embedder: Encoder) -> tuple[str, float]:
    return classify_by_examples([text], embedder)[0]


# --- slot values -----------------------------------------------------------------------------

_CUES = {
    "card_last4": re.compile(r"\b(card|ending|ends|end|last (four|4)|digits)\b"),
    # Not "number": "card number", "phone number" and "order number" all have one.
    "order_number": re.compile(r"\b(order|package|parcel|reference|confirmation|tracking)\b|#"),
    "phone_number": re.compile(r"\b(phone|mobile|cell|call me)\b"),
}
_ACCOUNT_WORDS = {"checking": "checking", "savings": "savings", "current": "checking"}
_APPOINTMENT_KINDS = [
    # Dental first: "a dental checkup" is not the GP's check-up.
    (
        r"\b(dental|teeth|dentist)\b.*\b(checkup|exam)\b|\b(checkup|exam)\b.*\b(dentist|teeth)\b",
        "dental check-up",
    ),
    (r"\b(checkup|annual|physical|general exam)\b", "checkup"),
    (r"\bclean(ing)?\b", "cleaning"),
    (r"\b(dentist|dental)\b", "dental check-up"),
    (r"\bconsult(ation)?\b", "consultation"),
    (r"\bfollowup\b", "follow-up"),
    (r"\b(vaccin\w*|flu shot|jab|booster)\b", "vaccination"),
    (r"\bblood (test|work)\b", "blood test"),
    (r"\b(x ray|xray)\b", "x-ray"),
    (r"\beye (exam|test)\b", "eye exam"),
    (r"\bfilling\b", "filling"),
]
_NAME_STOP = {
    "and",
    "i",
    "from",
    "calling",
    "here",
    "speaking",
    "my",
    "the",
    "about",
    "with",
    "please",
    "thanks",
    "thank",
    "but",
    "so",
    "um",
    "uh",
    "ringing",
    "is",
    "not",
    "just",
    "trying",
    "looking",
    "having",
    "going",
    "a",
    "an",
    "sorry",
    "really",
    "very",
    "fine",
    "good",
    "ok",
    "okay",
    "yes",
    "no",
    "wondering",
    "still",
    "in",
}


def _weekday_ahead(today: date, weekday: int, minimum: int) -> date:
    """The first `weekday` at least `minimum` days after today."""
    ahead = (weekday - today.weekday()) % 7
    while ahead < minimum:
        ahead += 7
    return today + timedelta(days=ahead)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day_of_month(today: date, day: int, weekday: int | None) -> date | None:
    """'the 3rd' / 'Friday the 5th': the next such day from today (weekday must agree)."""
    for offset in range(13):
        month = (today.month - 1 + offset) % 12 + 1
        year = today.year + (today.month - 1 + offset) // 12
        found = _safe_date(year, month, day)
        if found and found >= today and (weekday is None or found.weekday() == weekday):
            return found
    return None


def resolve_date(mention: DateMention, today: date) -> date | None:
    """A calendar date for what was said, looking forward from today (callers book ahead)."""
    relative = mention.relative or ""
    offsets = {"today": 0, "tomorrow": 1, "day after tomorrow": 2, "yesterday": -1}
    if relative in offsets:
        return today + timedelta(days=offsets[relative])
    if relative.startswith("in ") and relative.split()[1].isdigit():
        count, unit = int(relative.split()[1]), relative.split()[2]
        return today + timedelta(days=count * (7 if unit.startswith("week") else 1))
    if mention.month and mention.day:
        year = mention.year or today.year
        found = _safe_date(year, mention.month, mention.day)
        if found and found < today and mention.year is None:
            found = _safe_date(year + 1, mention.month, mention.day)
        return found
    if mention.day:
        return _day_of_month(today, mention.day, mention.weekday)
    if mention.weekday is None:
        return None
    if relative in ("next", "next week"):
        upcoming = _weekday_ahead(today, mention.weekday, 1)
        days_left_this_week = 6 - today.weekday()
        # "next Tuesday" on a Monday is Tuesday of next week, not tomorrow.
        return (
            upcoming + timedelta(days=7)
            if (upcoming - today).days <= days_left_this_week
            else upcoming
        )
    if relative == "last":
        return _weekday_ahead(today, mention.weekday, 1) - timedelta(days=7)
    return _weekday_ahead(today, mention.weekday, 0 if relative == "this" else 1)


def _mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Blank out spans (dates, times, amounts) so their digits are not read as identifiers."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _identifier_slot(before: str, digits: str, expecting: str | None, intent: str | None) -> str:
    """Which slot a bare digit string fills: the nearest cue word ('card', 'order', 'phone')
    beats what we asked for, which beats what the intent suggests."""
    cued = [
        (match.end(), slot)
        for slot, cue in _CUES.items()
        for match in cue.finditer(before)
        if slot != "card_last4" or len(digits) >= 4
    ]
    if cued:
        return max(cued)[1]
    if expecting in ("order_number", "card_last4"):
        return expecting
    if intent in ("order_status", "start_return", "complaint") and len(digits) >= 3:
        return "order_number"
    if intent == "block_card" and len(digits) == 4:
        return "card_last4"
    return "number"


def _number_values(masked: str, expecting: str | None, intent: str | None) -> dict[str, Any]:
    """Identifiers (and, for transfers, bare amounts) among the numbers left in the text."""
    values: dict[str, Any] = {}
    for run in number_runs(masked):
        digits = run.digits
        if not digits.isdigit():
            continue
        before = normalise(masked[max(0, run.start - 30) : run.start]) + (
            " #" if "#" in masked[max(0, run.start - 2) : run.start] else ""
        )
        slot = _identifier_slot(before, digits, expecting, intent)
        if (expecting == "amount" or intent == "transfer_money") and slot == "number":
            values.setdefault("amount", Decimal(digits))
        elif len(digits) >= MIN_IDENTIFIER_DIGITS:  # "one moment", "two of them" are not IDs
            # A caller who reads the whole card number: keep only the last four.
            values.setdefault(slot, digits[-4:] if slot == "card_last4" else digits)
    return values


def _account_values(norm: str) -> dict[str, str]:
    values: dict[str, str] = {}
    kinds = [
        (m.start(), _ACCOUNT_WORDS[m.group(1)])
        for m in re.finditer(r"\b(checking|savings|current)\b", norm)
    ]
    if not kinds:
        return values
    values["account_kind"] = kinds[0][1]
    source = re.search(r"\bfrom (my |the )?(checking|savings)\b", norm)
    target = re.search(r"\b(to|into) (my |the )?(checking|savings)\b", norm)
    if source:
        values["from_account"] = _ACCOUNT_WORDS[source.group(2)]
    if target:
        values["to_account"] = _ACCOUNT_WORDS[target.group(3)]
    return values


def _appointment_kind(norm: str) -> str | None:
    for pattern, kind in _APPOINTMENT_KINDS:
        if re.search(pattern, norm):
            return kind
    return None


def _person_name(text: str) -> str | None:
    """'my name is Ana Lopez', 'this is Ana', "I'm Ana Lopez" (capitalised only: 'I'm calling')."""
    patterns = [
        (r"\bmy name(?:'s| is)\s+", False),
        (r"\b(?:this is|it's|it is)\s+", True),
        (r"\b(?:I'm|I am)\s+", True),
    ]
    for pattern, needs_capital in patterns:
        match = re.search(pattern, text, re.IGNORECASE)
        if not match:
            continue
        words = []
        for word in re.findall(r"[^\W\d_][\w'-]*", text[match.end() :])[:3]:
            if word.lower() in _NAME_STOP or (needs_capital and not word[0].isupper()):
                break
            words.append(word)
        if words:
            return " ".join(w[0].upper() + w[1:] for w in words)
    return None


def _reason(text: str) -> str | None:
    match = re.search(r"\b(?:because|'cause|cause|coz|cuz)\b[\s,]*(.+)", text, re.IGNORECASE)
    if match is None:
        return None
    return match.group(1).strip(" .,!?") or None


def _time_values(text: str) -> dict[str, Any]:
    mentions = find_times(text)
    values: dict[str, Any] = {}
    clock = next((m for m in mentions if m.hour is not None), None)
    part = next((m.part_of_day for m in mentions if m.part_of_day), None)
    if clock:
        values["time"] = clock.as_time()
    elif part:
        values["time"] = None
    if part:
        values["part_of_day"] = part
    return values


def _date_values(mentions: Sequence[DateMention], today: date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for mention in mentions:
        resolved = resolve_date(mention, today)
        if resolved and "date" not in values:
            values["date"] = resolved
        elif resolved is None and mention.relative and "date_hint" not in values:
            values["date_hint"] = mention.relative  # "next week": a range, not a day
    return values


def extract_values(
    text: str, *, expecting: str | None = None, today: date | None = None, intent: str | None = None
) -> dict[str, Any]:
    """Every slot value said in one turn; keys are absent when nothing was said for them."""
    today = today or date.today()
    if expecting in _IDENTIFIER_SLOTS:
        text = _DIGIT_POINT.sub("", text)
    if expecting in _IDENTIFIER_SLOTS or _CUES["order_number"].search(text.lower()):
        text = _DIGIT_HYPHEN.sub("", text)
    norm = normalise(text)
    dates = find_dates(text)
    times = [m for m in find_times(text) if m.hour is not None]
    amounts = find_amounts(text)
    values: dict[str, Any] = {}
    values.update(_date_values(dates, today))
    values.update(_time_values(text))
    if amounts:
        values["amount"] = amounts[0].value
    spans = [(m.start, m.end) for m in [*dates, *times, *amounts]]
    for key, value in _number_values(_mask(text, spans), expecting, intent).items():
        values.setdefault(key, value)
    values.update(_account_values(norm))
    extras = {
        "appointment_kind": _appointment_kind(norm),
        "person_name": _person_name(text),
        "reason": _reason(text),
    }
    values.update({k: v for k, v in extras.items() if v})
    return values


# --- DTMF ------------------------------------------------------------------------------------


def dtmf_values(dtmf: str, expecting: str | None) -> tuple[str | None, dict[str, Any]]:
    """Keypad digits: '0' alone asks for a person; otherwise they fill the expected slot."""
    keys = re.sub(r"[^0-9*#]", "", dtmf)
    digits = keys.split("#")[0].replace("*", "")
    if not digits:
        return None, {}
    if digits == "0":
        return "speak_to_human", {}
    if expecting == "card_last4":
        return None, {"card_last4": digits[-4:]}
    if expecting == "amount":
        return None, {"amount": Decimal(digits)}
    if expecting in (None, "number"):
        return None, {"number": digits}
    return None, {expecting: digits}


# --- putting it together ---------------------------------------------------------------------


def _dialogue_act(text: str, norm: str, has_value: bool) -> tuple[str, float] | None:
    """Correction, goodbye, yes/no, greeting: for turns that carry no task."""
    denial = is_denial(text)
    if is_correction(text) or ((denial or norm.startswith("sorry")) and has_value):
        return "correction", 0.85
    found = rule_intent(text)
    if found and found[0] == "goodbye":
        return found
    if denial:
        return "deny", 0.9
    if is_affirmation(text):
        return "affirm", 0.9
    if _GREETING.search(norm):
        return "greeting", 0.85
    return None


_SLOT_KEYS = frozenset(
    {"order_number", "card_last4", "amount", "date", "time", "number", "account_kind"}
)


def _classify(
    text: str,
    norm: str,
    ruled: tuple[str, float] | None,
    values: dict[str, Any],
    embedder: Encoder | None,
) -> tuple[str, float, str]:
    """(intent, confidence, source): task rules, then dialogue acts, then nearest example."""
    if ruled and ruled[0] in _TASKS:
        return ruled[0], ruled[1], "rules"
    act = _dialogue_act(text, norm, bool(_SLOT_KEYS & values.keys()))
    if act:
        return act[0], act[1], "rules"
    if embedder is not None:
        found, score = classify_by_example(text, embedder)
        return found, max(score, 0.0), "examples"
    return "unknown", 0.0, "none"


def _with_dtmf(result: Understanding, dtmf: str, expecting: str | None) -> Understanding:
    """Keypad digits are exact where speech is not: they override what was heard."""
    keyed_intent, keyed = dtmf_values(dtmf, expecting)
    result.values.update(keyed)
    if keyed_intent:
        result.intent, result.confidence = keyed_intent, 1.0
    if keyed_intent or keyed:
        result.source = "dtmf"
    return result


def understand(
    text: str,
    dtmf: str = "",
    *,
    expecting: str | None = None,
    today: date | None = None,
    embedder: Encoder | None = None,
) -> Understanding:
    """Intent, confidence and slot values of one caller turn (speech and/or keypad).

    `expecting` names the slot the agent just asked for ("order_number", "card_last4",
    "amount"): a bare number or keypad entry fills it. `today` anchors "next Tuesday".
    """
    result = Understanding("unknown", 0.0)
    norm = normalise(text)
    if norm:
        ruled = rule_intent(text)
        guess = ruled[0] if ruled and ruled[0] in _TASKS else None
        values = extract_values(text, expecting=expecting, today=today, intent=guess)
        intent, confidence, source = _classify(text, norm, ruled, values, embedder)
        if intent != guess and intent in _TASKS:  # the intent decides what a bare number is
            values = extract_values(text, expecting=expecting, today=today, intent=intent)
        result = Understanding(
            intent,
            confidence,
            values,
            source,
            correction=intent == "correction" or is_correction(text),
        )
    return _with_dtmf(result, dtmf, expecting) if dtmf else result
