"""Every slot value said in one caller turn: numbers, money, dates with tense, times, accounts,
appointment kinds, doctors, the caller's own items, names. Pipecat-free; a few milliseconds.

Numbers, dates and times are located by voice.dialogue.numbers (text2num underneath) and a date
is resolved by dateparser with the tense of its clause; items and doctors are matched with
rapidfuzz against what the caller actually has; phone numbers are checked by phonenumbers.
`SlotContext` carries what decides the rest: the day, the slot the agent just asked for, what the
turn is about (a bare number is an order number in an order call, a time when a time was asked),
and the options the agent just listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, time
from decimal import Decimal
from typing import Any

import phonenumbers
from rapidfuzz.distance import JaroWinkler

from voice.dialogue.numbers import (
    Amount,
    DateMention,
    TimeMention,
    find_amounts,
    find_dates,
    find_times,
    number_runs,
    resolve_date,
)

PM_BELOW = 8  # a bare "at 3" at the clinics is 3 PM; "at 8" is 8 AM
MIN_IDENTIFIER_DIGITS = 3  # "one moment", "two of them" are not identifiers
_IDENTIFIERS = ("order_number", "card_last4", "phone_number")


@dataclass(frozen=True)
class SlotContext:
    today: date  # the agent's day (pinned in tests and evaluation)
    expecting: str | None = None  # the slot the agent just asked for
    intent: str | None = None  # what the turn is about (UNDERSTANDING.md labels)
    items: Sequence[tuple[str, str]] = ()  # (order_number, item name) of the caller's own orders
    doctors: Sequence[str] = ()  # "Dr. Marcus Bell"
    kinds: Sequence[str] = ()  # appointment kinds the clinics offer: "dental cleaning"
    offered_times: Sequence[time] = ()  # clock times the agent just listed


def extract(text: str, ctx: SlotContext) -> dict[str, Any]:
    """Every slot value said in `text`; a key is absent when nothing was said for it."""
    if ctx.expecting in _IDENTIFIERS:
        text = re.sub(r"(?<=\d)\.(?=\d)", "", text)  # asked for one, "908.7" is 9087
    if ctx.expecting in _IDENTIFIERS or _CUES["order_number"].search(text.lower()):
        text = re.sub(r"(?<=\d)[-–](?=\d)", "", text)  # "45-21" read in pairs is 4521
    values: dict[str, Any] = {}
    position = _POSITION.search(text.lower()) if ctx.offered_times else None
    if position:  # "the first one" picks an offered time; it is no date and no clock time
        index = _POSITIONS[position.group(1) or position.group(2)]
        if index < len(ctx.offered_times):
            values["time"] = ctx.offered_times[index]
        text = _blank(text, [position.span()])
    dates = find_dates(text)
    values |= _date_values(text, dates, ctx)
    if "date" not in values:
        holiday = _holiday(text, ctx)
        if holiday is not None:
            values["date"] = holiday
    times = _times(text, ctx)
    values |= {k: v for k, v in _time_values(text, times, ctx).items() if k not in values}
    amounts = find_amounts(text)
    if amounts:
        values["amount"] = amounts[0].value
    found: list[DateMention | TimeMention | Amount] = [*dates, *times, *amounts]
    spans = [(m.start, m.end) for m in found if m.start < m.end]
    for key, value in _number_values(_blank(text, spans), ctx).items():
        values.setdefault(key, value)
    values |= _account_values(text.lower())
    said = {
        "appointment_kind": _appointment_kind(text.lower(), ctx.kinds),
        "doctor": _doctor(text, ctx.doctors),
        "person_name": _person_name(text),
        "reason": _reason(text),
    }
    values |= {key: value for key, value in said.items() if value}
    item = _item(text, ctx.items)
    if item:
        values["item_order"], values["item"] = item
    return values


_HOLIDAYS = {  # what callers say -> the name the `holidays` package gives the day
    r"christmas eve": "Christmas Eve",
    r"christmas(?: day)?|xmas": "Christmas Day",
    r"new year'?s eve": "New Year's Eve",
    r"new year'?s(?: day)?": "New Year's Day",
    r"thanksgiving": "Thanksgiving Day",
    r"independence day|(?:the )?fourth of july|july (?:the )?4(?:th)?": "Independence Day",
    r"labou?r day": "Labor Day",
    r"memorial day": "Memorial Day",
}


def _holiday(text: str, ctx: SlotContext) -> date | None:
    """'on Christmas Day', 'New Year's Eve': the next such day (the last one, said in the past)."""
    import holidays

    lower = text.lower()
    for pattern, name in _HOLIDAYS.items():
        match = re.search(rf"\b(?:{pattern})\b", lower)
        if match is None:
            continue
        years = (ctx.today.year - 1, ctx.today.year, ctx.today.year + 1)
        if name.endswith("Eve"):
            month, day = (12, 24) if name.startswith("Christmas") else (12, 31)
            days = [date(y, month, day) for y in years]
        else:
            calendar = holidays.US(years=years)  # type: ignore[no-untyped-call]  # no hints
            days = sorted(d for d, n in calendar.items() if n.startswith(name))
        past = bool(_PAST.search(lower[: match.start()]))
        if past:
            before = [d for d in days if d <= ctx.today]
            return before[-1] if before else None
        after = [d for d in days if d >= ctx.today]
        return after[0] if after else None
    return None


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Spaces over spans (dates, times, amounts), so their digits are not read as identifiers."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


# --- dates and their tense -------------------------------------------------------------------

# Nearest cue before a date decides its tense: "I ordered it on the 9th" (past), "can I come in
# on the 9th", "move it to the 15th" (future). "Supposed to come on the 5th" is past.
_PAST = re.compile(
    r"\b(?:(?:supposed|meant) to|should have|was due)(?: \w+)?"
    # "get it delivered", "will be moved": a participle that is no past
    r"|(?<!\bbe )(?<!\bget )(?<!\bget it )(?<!\bhave it )(?<!\blike it )(?<!\bwant it )"
    r"(?<!\bneed it )\b(?:ordered|bought|purchased|placed|paid|charged|billed|debited|took|taken|"
    r"delivered|arrived|came|received|(?<!\byou )(?<!\byou've )got|sent|shipped|returned|"
    r"happened|was|were|did|had|went|"
    r"saw|noticed|missed|used|lost|spent|withdrew|deposited|transferred|called|rang|booked|made|"
    r"blocked|declined|stolen|ran|broke|stopped|started|expired|cancell?ed|changed|moved|"
    r"visited|tried|told|said|asked|reported|left|dropped|processed|refunded|been|last|ago)\b"
)
_FUTURE = re.compile(
    r"\b(?:will|'ll|going to|gonna|can|could|would|want|wanna|like|need|book|move|reschedule|"
    r"change|push|come|coming|next|available|availability|free|open|instead|arrive|arriving|"
    r"due|expected|schedule|hoping|wondering|see|get)\b"
)
# "move it to the 15th", "a blood test for, uh, Thursday"
_TARGET = re.compile(r"\b(?:to|for|until|till|into)(?:\W+(?:uh|um|er|like))*(?: the)?\W*$")
_CORRECTING = re.compile(r"\b(meant|mean|actually|rather|make it|instead|scratch that)\b")
# What a turn is about decides a date that says nothing of its tense.
_PAST_INTENTS = ("order_", "return_", "transaction_", "card_")


def _tense(text: str, mention: DateMention, ctx: SlotContext) -> str:
    clause = re.split(r"[.!?;]|\bbut\b", text[: mention.start].lower())[-1]
    if _TARGET.search(clause):
        return "future"
    cues = [(m.end(), m.end() - m.start(), "past") for m in _PAST.finditer(clause)]
    cues += [(m.end(), m.end() - m.start(), "future") for m in _FUTURE.finditer(clause)]
    if cues:
        return max(cues)[2]
    intent = ctx.intent or ""
    past = intent.startswith(_PAST_INTENTS) and intent != "order_change"
    return "past" if past else "future"


_REFUSED = re.compile(r"\W*(?:'s|is|would be) no good|\W*(?:doesn't|does not|won't|will not) work")
_PREPOSITION = re.compile(r"\b(?:on|by|for|until|till|from|to|since|before|after)\W*$", re.I)


def _negated(text: str, start: int, end: int) -> bool:
    """'not Tuesday, Thursday', "Tuesday's no good", 'not forty-six ten, forty-six oh one'."""
    before = re.search(r"\bnot(?:\s+(?:the|on|on the))?\W*$", text[:start], re.I)
    return bool(before or _REFUSED.match(text[end:]))


def _date_values(text: str, dates: list[DateMention], ctx: SlotContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    said = text.lower()
    dates = [
        m
        for m in dates
        # "the first order, not the second": an ordinal that is no day unless one was asked for
        if not re.fullmatch(r"the (first|second)\W*", said[m.start : m.end])
        or _PREPOSITION.search(said[: m.start])
        or ctx.expecting == "date"
    ]
    if any(not _negated(text, m.start, m.end) for m in dates):
        dates = [m for m in dates if not _negated(text, m.start, m.end)]
    # "move it from Wednesday to Friday", "on Wednesday, can I come Friday instead": the new day
    target = [
        m
        for m in dates
        if _TARGET.search(text[: m.start].lower()) or re.match(r"\W*instead\b", text[m.end :], re.I)
    ]
    correcting = ctx.intent == "appointment_move" or _CORRECTING.search(said)
    if not target and len(dates) > 1 and correcting:
        target = dates[-1:]  # "I said Tuesday but I meant Thursday"
    # "the Saturday after, the twenty-sixth": a day of the month says more than a weekday
    exact = [m for m in dates if m.day is not None]
    ordered = (
        target
        + [m for m in exact if m not in target]
        + [m for m in dates if m not in target and m not in exact]
    )
    for mention in ordered:
        day = resolve_date(mention, ctx.today, _tense(text, mention, ctx))
        if day and "date" not in values:
            values["date"] = day
        elif day and day < ctx.today <= values["date"] and "date_was" not in values:
            # "I missed my check-up on the 12th, can I move it to Thursday?": the day gone by
            # names the appointment, the day ahead is where it should go.
            values["date_was"] = day
        elif day is None and mention.relative and "date_hint" not in values:
            values["date_hint"] = mention.relative  # "next week": a range, not a day
    if not dates and ctx.expecting == "date":
        runs = [r for r in number_runs(text) if r.digits.isdigit() and 1 <= int(r.digits) <= 31]
        if len(runs) == 1:  # "the ninth?" was asked for: "nine"
            bare = DateMention(None, None, int(runs[0].digits), None, None, 0, 0)
            values["date"] = resolve_date(bare, ctx.today, _tense(text, bare, ctx))
    return values


# --- times -----------------------------------------------------------------------------------

_TIME_INTENTS = ("appointment_book", "appointment_move")
_POSITIONS = {"first": 0, "earliest": 0, "earlier": 0, "former": 0, "second": 1, "third": 2}
_POSITIONS |= {"fourth": 3, "last": -1, "latest": -1, "later": -1, "latter": -1}
_POSITION = re.compile(
    rf"\bthe ({'|'.join(_POSITIONS)})\b|\b({'|'.join(_POSITIONS)}) (?:one|slot|time|option)\b"
)


def _times(text: str, ctx: SlotContext) -> list[TimeMention]:
    """Clock times said; a number alone counts where a time is wanted ('morning, like nine?')."""
    wanted = (
        ctx.expecting in ("time", "appointment")
        or bool(ctx.offered_times)
        or (ctx.intent in _TIME_INTENTS and ctx.expecting not in _IDENTIFIERS)
    )
    return find_times(text, bare=wanted)


def _time_values(text: str, times: list[TimeMention], ctx: SlotContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    part = next((m.part_of_day for m in times if m.part_of_day), None)
    clocks = [m for m in times if m.hour is not None]
    if part:
        values["part_of_day"] = part
    if clocks:
        # "from 9 to 10:30": the time it goes to
        ends = [m for m in clocks if not re.match(r"(from|between)\b", text[m.start :], re.I)]
        clock = (ends or clocks)[0]
        if clock.meridiem is None and clock.part_of_day is None and part:
            clock = replace(clock, part_of_day=part)  # "morning, like nine?"
        values["time"] = _offered(clock, ctx.offered_times) or clock.as_time(PM_BELOW)
    return values


def _offered(clock: TimeMention, offered: Sequence[time]) -> time | None:
    """The offered time the caller picked: 'the ten thirty', 'the 2 o'clock', and 'ten thirty
    one' (10:30, "one" being a filler or the option's number)."""
    said = clock.as_time(PM_BELOW)
    if said is None:
        return None
    # "two" may mean 2 AM or 2 PM; "2 PM" and "14:00" mean what they say
    exact = clock.meridiem or (said.hour > 12 and said.hour == clock.hour)
    hours = {said.hour} if exact else {said.hour % 12, said.hour % 12 + 12}
    for minute in dict.fromkeys((clock.minute, clock.minute - clock.minute % 10)):
        picks = [t for t in offered if t.hour in hours and t.minute == minute]
        if picks:
            return picks[0]
    return None


# --- identifiers and amounts -----------------------------------------------------------------

_CUES = {
    "card_last4": re.compile(r"\b(card|ending|ends|end|last (four|4)|digits)\b"),
    # Not "number": card numbers, phone numbers and order numbers all have one.
    "order_number": re.compile(r"\b(order|package|parcel|reference|confirmation|tracking)\b|#"),
    "phone_number": re.compile(r"\b(phone|mobile|cell|call me|reach me|text me)\b"),
}
_COUNTED = re.compile(
    r"\s*(?:%|percent|per cent|people|times|days?|weeks?|months?|years?|hours?|minutes?|items?|"
    r"pieces?|pairs?|of (?:them|those|these))\b",
    re.I,
)


def _identifier_slot(before: str, digits: str, ctx: SlotContext) -> str:
    """Which slot a digit string fills: the nearest cue word ('card', 'order', 'phone') beats
    the slot just asked for, which beats what the intent suggests."""
    cued = [
        (match.end(), slot)
        for slot, cue in _CUES.items()
        for match in cue.finditer(before)
        if slot != "card_last4" or len(digits) >= 4
    ]
    if cued:
        return max(cued)[1]
    if ctx.expecting in _IDENTIFIERS:
        return str(ctx.expecting)
    intent = ctx.intent or ""
    if (len(digits) == 10 or (len(digits) == 11 and digits[0] == "1")) and _phone(digits):
        return "phone_number"
    if intent.startswith(("order_", "return_")):
        return "order_number"
    if intent.startswith("card_") and len(digits) >= 4:
        return "card_last4"
    return "number"


def _phone(digits: str) -> str | None:
    """'5551234567' -> '+15551234567' when it can be a phone number (US by default)."""
    try:
        number = phonenumbers.parse(digits, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _number_values(blanked: str, ctx: SlotContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    runs = number_runs(blanked)
    if ctx.expecting == "phone_number" or _CUES["phone_number"].search(blanked.lower()):
        # "five five five, one two three, four five six seven": groups read with pauses
        whole = "".join(run.digits for run in runs if run.digits.isdigit())
        # "change it to five five five...": that "to" is no 2
        for digits in (whole, whole[1:] if whole[:1] in "24" else ""):
            if (len(digits) == 10 or digits[:1] == "1") and (phone := _phone(digits)):
                return {"phone_number": phone}
    if any(not _negated(blanked, run.start, run.end) for run in runs):
        runs = [run for run in runs if not _negated(blanked, run.start, run.end)]
    groups = [run.digits for run in runs if run.digits.isdigit()]
    for slot in ("card_last4", "order_number"):
        cued = ctx.expecting == slot or _CUES[slot].search(blanked.lower())
        if cued and len(groups) > 1 and max(map(len, groups)) <= 3 and len("".join(groups)) == 4:
            return {slot: "".join(groups)}  # "five five, one two": one number read in groups
    for run in runs:
        digits = run.digits
        if re.fullmatch(r"\d+\.\d\d", digits) or (
            digits.replace(".", "", 1).isdigit()
            and (ctx.expecting == "amount" or ctx.intent == "transfer_money")
            and not _CUES["card_last4"].search(blanked[max(0, run.start - 30) : run.start].lower())
        ):
            values.setdefault("amount", Decimal(digits))  # "250.00", or a number when one is asked
            continue
        if not digits.isdigit() or _COUNTED.match(blanked[run.end :]):
            continue  # "a hundred percent", "three days": quantities, not identifiers
        before = blanked[max(0, run.start - 30) : run.start].lower()
        slot = _identifier_slot(before, digits, ctx)
        if slot == "card_last4" and len(digits) >= 4:
            values.setdefault(slot, digits[-4:])  # a whole card number read out: the last four
        elif slot == "phone_number" and (phone := _phone(digits)):
            values.setdefault(slot, phone)
        elif slot == "order_number" and len(digits) >= MIN_IDENTIFIER_DIGITS:
            values.setdefault(slot, digits)
        elif len(digits) >= MIN_IDENTIFIER_DIGITS or ctx.expecting == "number":
            values.setdefault("number", digits)
    return values


# --- accounts, kinds, doctors, items, names --------------------------------------------------

_ACCOUNT = r"(checking|chequing|cheque|current(?= account)|savings?)"


def _account_kind(word: str) -> str:
    return "savings" if word.startswith("saving") else "checking"


def _account_values(lower: str) -> dict[str, str]:
    values: dict[str, str] = {}
    said = re.search(rf"\b{_ACCOUNT}\b", lower)
    if said is None:
        return values
    values["account_kind"] = _account_kind(said.group(1))
    if source := re.search(rf"\bfrom (?:my |the )?{_ACCOUNT}\b", lower):
        values["from_account"] = _account_kind(source.group(1))
    if target := re.search(rf"\b(?:to|into) (?:my |the )?{_ACCOUNT}\b", lower):
        values["to_account"] = _account_kind(target.group(1))
    return values


# How callers name appointment kinds -> the words of the kind the clinics call it.
_KIND_WORDS = [
    (r"\bclean(ing|ed)?\b|\bhygien", "cleaning"),
    (r"\b(vaccin\w*|flu shot|flu jab|jab|booster|shot|immuni[sz]ation)\b", "vaccination"),
    (r"\bblood (test|work|draw)\b|\bbloods\b", "blood test"),
    (r"\b(check[- ]?up|physical|annual exam|exam|examination)\b", "check-up"),
    (r"\b(dentist|dental)\b", "dental check-up"),
]
_DENTAL = re.compile(r"\b(dental|dentist|teeth|tooth)\b")
_DEFAULT_KINDS = ("check-up", "vaccination", "blood test", "dental check-up", "dental cleaning")


def _word_set(text: str) -> set[str]:
    return set(text.split())


def _key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def _appointment_kind(lower: str, kinds: Sequence[str]) -> str | None:
    """'cleaning' -> 'dental cleaning', 'flu jab' -> 'vaccination', 'check up' -> 'check-up', or
    'dental check-up' when dental words are near."""
    kinds = tuple(kinds) or _DEFAULT_KINDS
    for pattern, words in _KIND_WORDS:
        if not re.search(pattern, lower):
            continue
        if words == "check-up" and _DENTAL.search(lower):
            words = "dental check-up"
        matching = [k for k in kinds if _key(words) in _key(k)]
        # the plainest kind that contains the words: "check-up" before "dental check-up"
        matching.sort(key=lambda k: (_key(k) != _key(words), len(k)))
        if matching:
            return matching[0]
    return None


def _same(said: str, name: str) -> bool:
    return said.rstrip("s") == name.rstrip("s")


def _similar(said: str, name: str) -> bool:
    """One word the caller said against one word of a name: the same word, a plural, the
    start of a compound ('sketch'), or a mishearing that keeps its start ('blanky')."""
    if _same(said, name):
        return True
    if len(said) >= 4 and name.startswith(said) and len(name) - len(said) >= 3:
        return True
    close = len(said) >= 5 and len(name) >= 5 and said[:3] == name[:3]
    return close and JaroWinkler.similarity(said, name) >= 0.9


# Words that name no item: fillers, pronouns, and everyday words that sound like item words.
_NOT_ITEMS = _word_set(
    "the and for you your my one ones thing things stuff item items order orders set sets pack "
    "kit that this those these with from about just like want need got get show shows showing "
    "still speak help call card back sent came come thanks please return refund piece person "
    "cancel cancelled cancelling track tracking deliver delivered delivery change block book move"
)
_NAMING = _word_set("thing things one ones stuff set order item")


def _item(text: str, items: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """(order number, item name) of the caller's own item they named, or None when none or two
    match equally ('the lamp' -> 'LED Desk Lamp', 'the coffee thing', 'the blanky').

    The item's head noun ('lamp', 'blanket') counts wherever it is said, misheard or not; a
    describing word ('coffee', 'wool', 'running') only said as is and where it names the thing
    ('the coffee thing', 'my wool one', 'the coffee.'), not in "the running socks", "I'm
    running late", "one coffee machine"."""
    said = re.findall(r"[a-z]+|[^\sa-z]", text.lower())
    scored = []
    for number, name in items:
        words = re.findall(r"[a-z]+", name.lower())
        hits = 0
        for n, word in enumerate(words):
            if word in _NOT_ITEMS or len(word) < 3:
                continue
            head = n == len(words) - 1
            for i, w in enumerate(said):
                if w in _NOT_ITEMS or not (_similar(w, word) if head else _same(w, word)):
                    continue
                after = said[i + 1] if i + 1 < len(said) else "."
                named = after in _NAMING or not after.isalpha()
                if head or named or any(_same(after, other) for other in words[n + 1 :]):
                    hits += 2 if head else 1
                    break
        if hits:
            scored.append((hits, number, name))
    scored.sort(reverse=True)
    if not scored or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1], scored[0][2]


def _doctor(text: str, doctors: Sequence[str]) -> str | None:
    """'doctor bell', 'Dr Lindquist', 'Marcus Bell' -> 'Dr. Marcus Bell'."""
    said = re.findall(r"[a-z]+", text.lower())
    cued = {said[i + 1] for i, w in enumerate(said[:-1]) if w in ("doctor", "dr", "doc")}
    for doctor in doctors:
        names = [w for w in re.findall(r"[a-z]+", doctor.lower()) if w != "dr"]
        if not names:
            continue
        surname = names[-1]
        fuzzy_surname = len(surname) >= 6 and any(_similar(w, surname) for w in said)
        by_cue = any(_similar(w, n) or w == n for w in cued for n in names)
        full = len(names) > 1 and all(n in said for n in names)
        if by_cue or full or fuzzy_surname:
            return doctor
    return None


_NAME_STOP = _word_set(
    "a about an and but calling fine from going good having here i in is just looking my no not "
    "ok okay please really ringing so sorry speaking still thank thanks the trying uh um very "
    "with wondering yes i'm i've i'd i'll"
)


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
    return (match.group(1).strip(" .,!?") or None) if match else None
