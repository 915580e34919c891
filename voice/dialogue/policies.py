"""Answers from the policy documents: the sentences that answer the question asked.

Retrieval (`voice.dialogue.knowledge`) finds the passages about the topic; the answer is then
the one or two sentences of those passages closest to the question, not the passage's first
lines. Two things an embedding alone misses are added to the score: the day the caller asks
about ("are you open tomorrow?" is about a Tuesday when today is Monday, so a sentence whose
days cover Tuesday is preferred over the public-holiday one), and the place or service named
("the dental clinic", "the bank").
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import numpy as np

from voice.dialogue.knowledge import Passage
from voice.dialogue.plan import TaskContext, TurnPlan
from voice.dialogue.understanding import LINE_OF

MIN_PASSAGE_SCORE = 0.3
SURE_PASSAGE_SCORE = 0.55
ANSWER_SENTENCES = 2
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s? "
    r"(?:to|through|-) (monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday)s?\b"
)
_PLACES = {
    "dental": ("dental", "dentist", "riverside", "teeth", "hygienist"),
    "health downtown": ("downtown", "doctor", "clinic", "gp", "vaccination", "blood"),
    "store": ("shop", "store", "advisor", "order", "market street"),
    "bank": ("bank", "banking", "branch", "card", "loan"),
}
NOT_DOCUMENTED = "I'm sorry, I don't have that information here."


def _split_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 12]


def asked_day(question: str, today: date) -> int | None:
    """The weekday (0 = Monday) the question is about, when it names or implies one."""
    q = question.lower()
    if "tomorrow" in q:
        return (today + timedelta(days=1)).weekday()
    if re.search(r"\b(today|tonight|right now|now)\b", q):
        return today.weekday()
    for index, name in enumerate(WEEKDAYS):
        if re.search(rf"\b{name[:3]}", q):
            return index
    if "weekend" in q:
        return 5
    return None


def covers(sentence: str, weekday: int) -> bool:
    """Does the sentence speak about that weekday (by name, a range, weekdays/weekends)?"""
    s = sentence.lower()
    if re.search(rf"\b{WEEKDAYS[weekday]}s?\b", s):
        return True
    for start, end in _RANGE.findall(s):
        a, b = WEEKDAYS.index(start), WEEKDAYS.index(end)
        if a <= weekday <= b:
            return True
    if weekday < 5 and re.search(r"\bweekdays?\b", s):
        return True
    return weekday >= 5 and bool(re.search(r"\bweekends?\b", s))


def _place_bonus(question: str, heading: str, sentence: str) -> float:
    q, where = question.lower(), f"{heading} {sentence}".lower()
    bonus = 0.0
    for place, cues in _PLACES.items():
        if any(c in q for c in cues) and place.split()[0] in where:
            bonus += 0.12
    return bonus


def answer_sentences(question: str, passages: list[Passage], encoder: Any, today: date) -> str:
    """The sentences of the retrieved passages that answer `question`, in reading order."""
    candidates = [(p, s) for p in passages[:3] for s in _split_sentences(p.text)]
    if not candidates:
        return passages[0].text if passages else ""
    if encoder is None:
        return " ".join(s for _, s in candidates[:ANSWER_SENTENCES])
    vectors = np.asarray(encoder.encode([question, *[f"{p.heading}. {s}" for p, s in candidates]]))
    scores = vectors[1:] @ vectors[0]
    day = asked_day(question, today)
    for i, (p, s) in enumerate(candidates):
        # The passage as a whole answering the question counts as much as the sentence alone:
        # "how many days do I have" matches a lost parcel's "within 5 business days" word for
        # word, but the return-window passage is the one about sending things back.
        scores[i] += 0.25 * p.score + _place_bonus(question, p.heading, s)
        if day is not None and covers(s, day):
            scores[i] += 0.15
    best = sorted(range(len(candidates)), key=lambda i: -scores[i])[:ANSWER_SENTENCES]
    if len(best) > 1 and scores[best[1]] < scores[best[0]] - 0.12:
        best = best[:1]  # the second sentence only when it is nearly as relevant
    return " ".join(candidates[i][1] for i in sorted(best))


def knowledge_plan(
    t: TaskContext, intent: str, question: str, *, required: bool = True
) -> TurnPlan | None:
    """A policy answer; without a passage, an honest "I don't know" and the offer of a
    colleague (or None when `required` is false, so the caller's task can say its own).
    A turn with several questions ("how many days do I have, and how long does the refund
    take?") gets the sentence that answers each."""
    from voice.dialogue.understanding import request_pieces

    questions = request_pieces(t.reading.text) or [question]
    if len(questions) > 1:
        questions = [_in_context(t, q) for q in questions]
    # Asked on the way to something else (an interest rate, for a task this line can't do),
    # only a passage that is clearly about it will do.
    least = MIN_PASSAGE_SCORE if required else SURE_PASSAGE_SCORE
    passages, answers = [], []
    for asked in questions:
        found = t.knowledge.search(asked, k=3, min_score=least)
        if found:
            passages += found
            answer = t.extract_answer(asked, found)
            # several questions in one turn: the one sentence that answers each
            answers.append(
                _split_sentences(answer)[0]
                if len(questions) > 1 and _split_sentences(answer)
                else answer
            )
    if not passages:
        return t.offer_person(intent, NOT_DOCUMENTED) if required else None
    answer = " ".join(dict.fromkeys(s for a in answers for s in _split_sentences(a) or [a]))
    plan = t.answered(intent, answer, f"answered from the {passages[0].source} policy")
    plan.passages = passages
    return plan


# What a follow-up question is about when it does not say ("how long does that take?").
_LINE_WORDS = (
    (("order", "return", "shop", "product"), "shop order return refund"),
    (("card", "account", "transfer", "transaction", "pin", "bank"), "bank card account"),
    (("appointment", "prescription", "test", "medical"), "clinic appointment"),
)


def _in_context(t: TaskContext, question: str) -> str:
    """The question with what it is about made explicit for retrieval: the business line the
    call is on, and the tasks the words also suggest ("how many days do I have to send it
    back?" also reads as a return)."""
    hints = [
        i
        for i, p in t.reading.alternatives
        if p >= 0.05 and i not in ("policy_question", "opening_hours", "none", "location")
    ][:2]
    topic = t.topic or ""
    words = [w for keys, w in _LINE_WORDS if any(k in topic for k in keys)]
    words += [i.replace("_", " ") for i in hints]
    return f"{question} ({'; '.join(words)})" if words else question


# --- opening hours ---------------------------------------------------------------------------

# Which place a question is about, and the words of its section heading in the documents.
PLACES = (
    (
        "dental",
        re.compile(r"\b(dental|dentist|riverside|river road|teeth|tooth|hygienist)\b", re.I),
        "Acme Dental Riverside",
    ),
    (
        "downtown",
        re.compile(
            r"\b(downtown|main street|health|doctor'?s?|gp|vaccinations?|blood|"
            r"check-?ups?|clinic)\b",
            re.I,
        ),
        "Acme Health Downtown",
    ),
    (
        "bank",
        re.compile(
            r"\b(bank|banking|branch(es)?|banker|advisors? for (my )?(account|card)|"
            r"cards? line)\b",
            re.I,
        ),
        "Acme Bank",
    ),
    (
        "store",
        re.compile(r"\b(shop|store|market street|flagship|pick ?up|advisors?)\b", re.I),
        "Acme Store",
    ),
)


def place_in(text: str) -> str | None:
    """'the Riverside one' -> 'dental'; None when no place is named."""
    return next((name for name, words, _ in PLACES if words.search(text)), None)


def _section(t: TaskContext, place: str) -> list[str]:
    """The sentences of the opening-hours document's section for `place`."""
    heading = next(h for name, _, h in PLACES if name == place)
    chunks = [
        c
        for c in t.knowledge.chunks
        if c.source.startswith("opening") and heading.lower() in c.heading.lower()
    ]
    return [s for c in chunks for s in _split_sentences(c.text)]


def _holiday_sentences(t: TaskContext) -> list[str]:
    chunks = [
        c
        for c in t.knowledge.chunks
        if c.source.startswith("opening") and "holiday" in c.heading.lower()
    ]
    return [s for c in chunks for s in _split_sentences(c.text)]


def opening_hours(t: TaskContext) -> TurnPlan:
    """When a place is open on the day asked about: that place's sentences which cover that
    day; a public holiday's rule when the day is one; the place asked for when none is named
    and the call is not already about one."""
    from voice.business.clinics import holiday_name

    text = t.reading.text
    place = place_in(text) or t.slots.get("place") or _appointment_place(t) or _topic_place(t)
    if place is None:
        return t.ask(
            "opening_hours",
            "place",
            "This phone line answers at any hour. Which do "
            "you mean: the shop, the bank, or one of the "
            "clinics?",
        )
    t.slots["place"] = place
    day: date | None = t.reading.values.get("date")
    weekday = day.weekday() if day else asked_day(text, t.today)
    sentences = _section(t, place)
    if not sentences:
        return policy_question(t)
    special = holiday_name(day) if day else None
    if day and (special or (day.month, day.day) in ((12, 24), (12, 31))):
        rule = [
            s
            for s in _holiday_sentences(t)
            if (special and special.split()[0].lower() in s.lower())
            or ("eve" in s.lower() and day.day in (24, 31))
        ]
        if rule:
            return t.answered("opening_hours", " ".join(rule[:1]), "gave opening hours")
    if weekday is not None:
        covering = [s for s in sentences if covers(s, weekday) or _closed_on(s, weekday)]
        if covering:
            return t.answered("opening_hours", " ".join(covering[:2]), "gave opening hours")
    return t.answered("opening_hours", " ".join(sentences[:2]), "gave opening hours")


def _topic_place(t: TaskContext) -> str | None:
    """ "Are the people who deal with that around on Saturday?" after a bank or shop question:
    that line's place (a clinic question leaves two clinics, so it is asked)."""
    return {"bank": "bank", "shop": "store"}.get(LINE_OF.get(t.topic or "", ""))


def _closed_on(sentence: str, weekday: int) -> bool:
    return bool(re.search(rf"closed on {WEEKDAYS[weekday]}s?", sentence.lower()))


def _appointment_place(t: TaskContext) -> str | None:
    """The clinic the caller's appointment in focus is at."""
    appointment = t.slots.get("appointment_id")
    found = t.business.appointment(int(appointment)) if appointment else None
    if found is None:
        return None
    return "dental" if "dental" in found.clinic.lower() else "downtown"


def policy_question(t: TaskContext) -> TurnPlan:
    if t.topic in ("opening_hours", "location") and (
        asked_day(t.reading.text, t.today) is not None or "date" in t.reading.values
    ):
        return opening_hours(t)  # "and on Sunday?" after the hours of a place
    plan = knowledge_plan(
        t,
        t.reading.intent if t.reading.intent in TASKS else "policy_question",
        _in_context(t, t.reading.text),
    )
    assert plan is not None
    return plan


ASKS_WHERE = re.compile(
    r"\b(where|address|directions|how do i get|located|find you|street|"
    r"road|which clinic|what clinic)\b",
    re.IGNORECASE,
)


def location(t: TaskContext) -> TurnPlan:
    """Where a clinic or the shop is: the business's addresses first, then the documents
    (which also answer what a place offers: parking, wheelchair access)."""
    q = t.reading.text.lower()
    if not ASKS_WHERE.search(q):
        return policy_question(t)
    places = t.business.clinics()
    named = [
        c
        for c in places
        if any(re.search(rf"\b{re.escape(w)}\b", q) for w in _clinic_words(c.name, c.address))
    ]
    if not named and (
        re.search(r"\b(clinic|doctor|dentist|dental|appointment)\b", q)
        or (t.topic or "").startswith("appointment")
    ):
        appointment = t.slots.get("appointment_id")
        upcoming = t.business.appointment(int(appointment)) if appointment else None
        named = [c for c in places if upcoming and c.name == upcoming.clinic] or places
    if named:
        parts = [f"{c.name} is at {c.address}" for c in named]
        if len(named) == 1:
            t.slots["place"] = "dental" if "dental" in named[0].name.lower() else "downtown"
        return t.answered("location", " and ".join(parts) + ".", "gave the clinic address")
    return policy_question(t)


def _clinic_words(name: str, address: str = "") -> list[str]:
    """Words that name one clinic: 'dental', 'riverside', 'main street' (not 'acme')."""
    words = [w for w in name.lower().split() if w not in ("acme", "health", "clinic")]
    street = re.sub(r"^\d+\s*", "", address.lower()).strip()
    return words + ([street, street.split()[0]] if street else [])


TASKS = {
    "policy_question": policy_question,
    "opening_hours": opening_hours,
    "location": location,
}
