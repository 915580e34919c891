"""Check that a reply from the (small, inventive) LLM states only facts it was given.

A reply fails when it states an identifier, a date, weekday or month, a clock time, a sum of
money, a duration, a percentage or an order/card/appointment status that neither the facts nor
the allowed text (the caller's own words, retrieved knowledge) support. Claims are compared in
normalised form, so "Dec 3rd" matches "Thursday, December 3", "forty-nine dollars" matches
"$49.00" and "four five two one" matches "4521" -- while "Friday" or "the 5th" never match a
Thursday the 3rd. Numbers that are not claims ("one moment", "two options") pass.

A failed reply is replaced by `build_fallback_reply`, which says only what the facts say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from voice.dialogue.numbers import (
    DateMention,
    TimeMention,
    Token,
    find_amounts,
    find_dates,
    find_times,
    number_runs,
    parse_amount,
    tokenize,
)
from voice.dialogue.saying import money_words as say_money
from voice.dialogue.saying import say_digits, say_ordinal, say_year
from voice.dialogue.saying import time_words as say_time


@dataclass(frozen=True)
class GuardVerdict:
    ok: bool
    problems: list[str] = field(default_factory=list)


# --- statuses --------------------------------------------------------------------------------

# Phrase -> canonical status. Synonyms share a canonical form; "out for delivery" says more
# than "shipped", so it is its own status. ("lost" and "confirmed" are left out: agents say
# "sorry you lost your card" and "I've confirmed your identity" all the time.)
_STATUS_PHRASES = {
    "shipped": "shipped",
    "dispatched": "shipped",
    "sent out": "shipped",
    "in transit": "shipped",
    "on its way": "shipped",
    "on the way": "shipped",
    "out for delivery": "out for delivery",
    "delivered": "delivered",
    "arrived": "delivered",
    "processing": "processing",
    "being processed": "processing",
    "being prepared": "processing",
    "pending": "pending",
    "on hold": "pending",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "refunded": "refunded",
    "returned": "returned",
    "delayed": "delayed",
    "backordered": "backordered",
    "back-ordered": "backordered",
    "out of stock": "backordered",
    "blocked": "blocked",
    "frozen": "blocked",
    "locked": "blocked",
    "deactivated": "blocked",
    "suspended": "blocked",
    "unblocked": "active",
    "reactivated": "active",
    "active": "active",
    "booked": "booked",
    "scheduled": "booked",
    "moved": "moved",
    "rescheduled": "moved",
    "approved": "approved",
    "declined": "declined",
    "rejected": "declined",
    "received": "received",
    "completed": "completed",
}
# What a status is about. When the facts give a status about the same thing, the reply must
# agree with the facts even if the caller said otherwise ("has it shipped?" -> "it has shipped"
# is the classic invention); about other things, the caller's own words are enough.
_CATEGORIES = {
    "shipped": {"order"},
    "out for delivery": {"order"},
    "delivered": {"order"},
    "processing": {"order"},
    "pending": {"order"},
    "delayed": {"order"},
    "backordered": {"order"},
    "cancelled": {"order", "appointment"},
    "refunded": {"return"},
    "returned": {"return"},
    "received": {"return"},
    "approved": {"return"},
    "declined": {"return"},
    "completed": {"return"},
    "blocked": {"card"},
    "active": {"card"},
    "booked": {"appointment"},
    "moved": {"appointment"},
}
_STATUS_RE = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _STATUS_PHRASES), key=len, reverse=True)) + r")\b"
)
# A status word that describes another noun is not a claim: "processing time", "lost card fee".
_ATTRIBUTIVE = re.compile(
    r"\s+(time|times|fee|fees|address|center|centre|team|department|"
    r"policy|window|date|label|option|options|charge|charges|cost|costs|"
    r"method|your (request|call|message|question))\b"
)
_NEGATED = re.compile(r"(\bnot|n't|\bnever|\bno longer|\byet to)\b(\s+\w+){0,2}\s*$")
_MODAL = re.compile(
    r"\b(will|should|would|could|can|might|may|must|to|going to|expected to)"
    r"(\s+(be|have been|get|not))*\s*$"
)
# Conditions make a status generic ("once an order has shipped"). Not "when" or "after":
# "After checking, your order has shipped" is a claim.
_GENERIC = re.compile(
    r"\b(if|whether|once|until|unless|before|as soon as|in case|orders? that|"
    r"cards? that|any order|an order|a card|an item)\b"
)
_QUESTION_START = re.compile(
    r"^\s*(would|should|shall|do|does|can|could|may|want|is it ok|"
    r"did you want|are you)\b",
    re.IGNORECASE,
)


def _statuses(text: str) -> set[str]:
    return {_STATUS_PHRASES[m.group(1)] for m in _STATUS_RE.finditer(text.lower())}


def _lower(text: str) -> str:
    return text.lower().replace("’", "'")


def _sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; a sentence keeps its closing punctuation."""
    return [(m.start(), m.group()) for m in re.finditer(r"[^.!?]+[.!?]*", text)]


def _status_problems(reply: str, fact_statuses: set[str], allowed: set[str]) -> list[str]:
    problems = []
    for _, sentence in _sentences(reply):
        lowered = _lower(sentence)
        if lowered.rstrip().endswith("?") and _QUESTION_START.search(lowered):
            continue  # an offer ("Would you like it cancelled?") claims nothing
        for match in _STATUS_RE.finditer(lowered):
            before, after = lowered[: match.start()], lowered[match.end() :]
            if _ATTRIBUTIVE.match(after) or _MODAL.search(before) or _GENERIC.search(before):
                continue
            status = _STATUS_PHRASES[match.group(1)]
            negated = bool(_NEGATED.search(before))
            known = {s for s in fact_statuses if _CATEGORIES[s] & _CATEGORIES[status]}
            if known:
                ok = (status not in known) if negated else (status in known)
            else:
                ok = status in allowed
            if not ok:
                problems.append(f"status '{match.group(1)}' is not what the facts say")
    return problems


# --- durations and percentages ---------------------------------------------------------------

VAGUE = Decimal(-1)  # "a few days", "a couple of weeks": a claim even without a number
_VAGUE_WORDS = {"few", "couple", "several"}
_DURATION_UNITS = {
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
    "fortnight": "fortnight",
}
_SPAN_QUALIFIERS = {"business", "working", "calendar", "full", "whole"}


@dataclass(frozen=True)
class _Quantity:
    value: Decimal
    unit: str  # a duration unit, or "%"
    start: int
    end: int


def _unit_after(tokens: Sequence[Token], k: int) -> tuple[str | None, int]:
    """'days', 'business days', '-day' at k: (unit, index after it)."""
    if k < len(tokens) and tokens[k].kind == "hyph":
        k += 1
    while k < len(tokens) and tokens[k].kind == "word" and tokens[k].text in _SPAN_QUALIFIERS:
        k += 1
    if k < len(tokens) and tokens[k].kind == "word":
        word = tokens[k].text
        singular = word[:-1] if word.endswith("s") else word
        if singular in _DURATION_UNITS:
            return _DURATION_UNITS[singular], k + 1
    if k < len(tokens) and (tokens[k].text == "%" or tokens[k].text == "percent"):
        return "%", k + 1
    return None, k


def _quantities(text: str) -> list[_Quantity]:
    """'5 to 7 business days' -> 5 day, 7 day; 'an hour' -> 1 hour; '10%' -> 10 %."""
    tokens = tokenize(text)
    runs = number_runs(text, tokens)
    found: list[_Quantity] = []
    for n, run in enumerate(runs):
        unit, end = _unit_after(tokens, run.last_token + 1)
        k = run.last_token + 1
        ranged = (
            k < len(tokens)
            and (tokens[k].kind == "hyph" or tokens[k].text in ("to", "or", "and", "through"))
            and n + 1 < len(runs)
            and runs[n + 1].first_token == k + 1
        )
        if unit is None and ranged:
            unit, end = _unit_after(tokens, runs[n + 1].last_token + 1)
        if unit is None:
            continue
        value = Decimal(run.digits) if run.digits.replace(".", "", 1).isdigit() else None
        if value is not None:
            found.append(_Quantity(value, unit, run.start, tokens[end - 1].end))
    for k, tok in enumerate(tokens):
        if tok.kind == "word" and tok.text in ("a", "an"):
            unit, end = _unit_after(tokens, k + 1)
            if unit and unit != "%" and tokens[k + 1].kind == "word":
                found.append(_Quantity(Decimal(1), unit, tok.start, tokens[end - 1].end))
        elif tok.kind == "word" and tok.text in _VAGUE_WORDS:
            j = k + 1
            while j < len(tokens) and tokens[j].text in ("of", "more", "extra"):
                j += 1
            unit, end = _unit_after(tokens, j)
            if unit and unit != "%":
                found.append(_Quantity(VAGUE, unit, tok.start, tokens[end - 1].end))
    return found


# --- support: everything the reply may say ---------------------------------------------------


@dataclass
class _Support:
    dates: list[DateMention] = field(default_factory=list)
    weekdays: set[int] = field(default_factory=set)
    months: set[int] = field(default_factory=set)
    relatives: set[str] = field(default_factory=set)
    times: list[TimeMention] = field(default_factory=list)
    amounts: set[Decimal] = field(default_factory=set)
    digits: set[str] = field(default_factory=set)
    quantities: set[tuple[Decimal, str]] = field(default_factory=set)
    fact_statuses: set[str] = field(default_factory=set)
    allowed_statuses: set[str] = field(default_factory=set)


_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_RANGE = re.compile(
    r"\b(" + "|".join(_WEEKDAY_NAMES) + r")s?\s*(?:to|through|thru|"
    r"until|till|-|–)\s*(" + "|".join(_WEEKDAY_NAMES) + r")s?\b"
)


def _weekday_ranges(text: str) -> set[int]:
    """'Monday to Friday' supports every day in between; 'weekdays' and 'weekends' too."""
    lowered = text.lower()
    days: set[int] = set()
    for m in _WEEKDAY_RANGE.finditer(lowered):
        first, last = _WEEKDAY_NAMES.index(m.group(1)), _WEEKDAY_NAMES.index(m.group(2))
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    if re.search(r"\bweekdays?\b", lowered):
        days.update(range(5))
    if re.search(r"\bweekends?\b", lowered):
        days.update((5, 6))
    return days


def _complete(mention: DateMention, today: date | None) -> DateMention:
    """Fill in the weekday when the date is fully known (or its year can be inferred)."""
    if mention.month is None or mention.day is None:
        return mention
    year = mention.year
    if year is None and today is not None:
        year = today.year
        try:
            if date(year, mention.month, mention.day) < today:
                year += 1
        except ValueError:
            return mention
    if year is None:
        return mention
    try:
        real = date(year, mention.month, mention.day)
    except ValueError:
        return mention
    if mention.weekday is not None and mention.weekday != real.weekday():
        return mention  # the source itself disagrees with the calendar: keep it as said
    return replace(mention, weekday=real.weekday(), year=year)


def _support_times_text(text: str) -> str:
    """Knowledge writes ranges ('9 to 5', '8 AM-8 PM'); read both ends as times."""
    return re.sub(r"(?<=\w)\s*(?:to|through|thru|-|–)\s*(?=\d)", " until ", text)


def _add_text(support: _Support, text: str, today: date | None, *, is_fact: bool) -> None:
    for mention in find_dates(text):
        full = _complete(mention, today)
        support.dates.append(full)
        if full.weekday is not None:
            support.weekdays.add(full.weekday)
        if full.month is not None:
            support.months.add(full.month)
        if full.relative:
            support.relatives.add(full.relative)
    support.weekdays |= _weekday_ranges(text)
    support.times += [m for m in find_times(_support_times_text(text)) if m.hour is not None]
    support.amounts |= {a.value for a in find_amounts(text)}
    if is_fact:
        bare = parse_amount(text)  # a fact value "49.00" is an amount even without a "$"
        if bare is not None:
            support.amounts.add(bare)
    for run in number_runs(text):
        support.digits |= {run.digits, run.digits.replace(".", ""), *run.parts}
    support.digits |= set(re.findall(r"\d+", text))
    support.quantities |= {(q.value, q.unit) for q in _quantities(text)}
    if is_fact:
        support.fact_statuses |= _statuses(text)
    else:
        support.allowed_statuses |= _statuses(text)


def _support(facts: Mapping[str, str], allowed_text: str, today: date | None) -> _Support:
    support = _Support()
    for key, value in facts.items():
        # Keys can carry facts too: "checking account ending 1234" -> "$1,249.50".
        _add_text(support, str(key).replace("_", " "), today, is_fact=False)
        _add_text(support, str(value), today, is_fact=True)
    if allowed_text:
        _add_text(support, allowed_text, today, is_fact=False)
    support.allowed_statuses |= support.fact_statuses
    return support


# --- checking claims -------------------------------------------------------------------------

_QUALIFIERS = {"next", "this", "coming", "last"}


def _date_supported(claim: DateMention, support: _Support) -> bool:
    relative = claim.relative
    if relative and relative not in _QUALIFIERS and relative not in support.relatives:
        return False
    fields = ("month", "day", "year", "weekday")
    wanted = {f: getattr(claim, f) for f in fields if getattr(claim, f) is not None}
    if not wanted:
        return True  # a bare relative word that was supported above
    if set(wanted) == {"weekday"} and claim.weekday in support.weekdays:
        return True
    if set(wanted) == {"month"} and claim.month in support.months:
        return True
    return any(
        all(getattr(source, f) == value for f, value in wanted.items()) for source in support.dates
    )


def _hours(mention: TimeMention) -> set[int]:
    """The 24-hour hours a mention can mean: '3' -> {3, 15}; '3 pm' -> {15}; '15:00' -> {15}."""
    assert mention.hour is not None
    hour = mention.hour
    if mention.meridiem == "pm":
        return {hour % 12 + 12}
    if mention.meridiem == "am":
        return {hour % 12}
    if hour > 12 or hour == 0:
        return {hour}
    return {hour % 12, hour % 12 + 12}


def _time_supported(claim: TimeMention, support: _Support) -> bool:
    return any(
        source.minute == claim.minute and _hours(source) & _hours(claim) for source in support.times
    )


_IDENTIFIER_CUES = re.compile(
    r"\b(order|number|card|ending|ends|account|acct|reference|"
    r"ref|confirmation|tracking|ticket|case|claim|extension|id)\b\W*"
    r"(number|in|with|is|no)?\W*$|#\s*$"
)


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


_SMALL_TALK_TODAY = re.compile(
    r"\b(help|assist|calling|call|called|do for you|anything else|"
    r"reaching out|talk|speak|with)\b[^.!?]{0,20}$",
    re.IGNORECASE,
)
_WISHES = re.compile(r"\b(have|enjoy) (a|the|your) (\w+ )?(rest of (the|your) )?$", re.IGNORECASE)


def _small_talk(reply: str, mention: DateMention) -> bool:
    """'How can I help you today?', 'Have a good weekend!': no claim that anything happens."""
    if mention.weekday is not None or mention.relative not in ("today", "weekend"):
        return False
    before = reply[: mention.start]
    if _WISHES.search(before):
        return True
    if mention.relative != "today":
        return False
    closing = re.search(r"[.!?]", reply[mention.end :])
    return (closing is not None and closing.group() == "?") or bool(
        _SMALL_TALK_TODAY.search(before)
    )


def _quote(reply: str, start: int, end: int) -> str:
    return reply[start:end].strip()


def _claim_problems(reply: str, support: _Support) -> list[str]:
    problems = []
    spans: list[tuple[int, int]] = []
    for amount in find_amounts(reply):
        spans.append((amount.start, amount.end))
        if amount.value not in support.amounts:
            problems.append(
                f"amount '{_quote(reply, amount.start, amount.end)}' is not in the facts"
            )
    for mention in find_dates(reply):
        spans.append((mention.start, mention.end))
        if not _small_talk(reply, mention) and not _date_supported(mention, support):
            problems.append(
                f"date '{_quote(reply, mention.start, mention.end)}' is not in the facts"
            )
    for moment in find_times(reply):
        if moment.hour is None:
            continue
        spans.append((moment.start, moment.end))
        if not _time_supported(moment, support):
            problems.append(f"time '{_quote(reply, moment.start, moment.end)}' is not in the facts")
    masked = _mask(reply, spans)
    for quantity in _quantities(masked):
        spans.append((quantity.start, quantity.end))
        if (quantity.value, quantity.unit) not in support.quantities:
            problems.append(f"'{_quote(reply, quantity.start, quantity.end)}' is not in the facts")
    masked = _mask(reply, spans)
    for run in number_runs(masked):
        plain = run.digits.replace(".", "")
        cued = bool(_IDENTIFIER_CUES.search(masked[max(0, run.start - 40) : run.start].lower()))
        if (
            (len(plain) >= 3 or cued)
            and run.digits not in support.digits
            and plain not in support.digits
        ):
            problems.append(f"number '{_quote(reply, run.start, run.end)}' is not in the facts")
    return problems


def check_reply(
    reply: str, facts: Mapping[str, str], allowed_text: str = "", *, today: date | None = None
) -> GuardVerdict:
    """Does the reply state only what the facts and the allowed text support?

    `today`, when given, lets "December 3" in the facts support "Thursday, December 3".
    """
    support = _support(facts, allowed_text, today)
    problems = _claim_problems(reply, support)
    problems += _status_problems(reply, support.fact_statuses, support.allowed_statuses)
    problems += _promise_problems(reply, allowed_text)
    return GuardVerdict(ok=not problems, problems=problems)


# --- promises of things the agent can't do ---------------------------------------------------

# "I'll send you ...", "I've emailed ...", "we'll refund ...", "I'll call you back": a small
# model offers these freely. One is allowed only when the prepared reply or the documents it
# was given say the same ("We'll email you a prepaid return label" after a return).
_PROMISE = re.compile(
    r"\b(?:i|we)(?:'ll| will| have| 've|'ve| am going to|'m going to| can)\s+(?:\w+\s+)?"
    r"(send|sent|email|emailed|e-mail|text|texted|mail|mailed|post|posted|call|ring|refund|"
    r"refunded|credit|credited|transfer|transferred|cancel|cancelled|canceled|book|booked|"
    r"block|blocked|unblock|unblocked|reactivate|reactivated|replace|replaced|waive|waived|"
    r"arrange|arranged|schedule|scheduled|fix|fixed|escalate|escalated|update|updated|change|"
    r"changed|order|ordered|deliver|delivered|reset|issue|issued|open|opened|process|processed)"
    r"\b",
    re.IGNORECASE,
)


def _stem(verb: str) -> str:
    """'emailed' and 'email', 'sent' and 'send': the same promise."""
    verb = verb.lower()
    return "send" if verb == "sent" else verb[:4]


def _promise_problems(reply: str, allowed_text: str) -> list[str]:
    allowed = {_stem(m.group(1)) for m in _PROMISE.finditer(allowed_text)}
    found = []
    for match in _PROMISE.finditer(reply):
        if _stem(match.group(1)) not in allowed:
            found.append(f"promises what it can't do: {match.group(0)!r}")
    return found


# --- the fallback ----------------------------------------------------------------------------

# Facts in the order a caller wants to hear them, and how each is said.
_TEMPLATES = {
    "order_number": "This is about order {value}.",
    "status": "Its status is {value}.",
    "items": "It contains {value}.",
    "ordered_on": "It was ordered on {value}.",
    "shipped_on": "It shipped on {value}.",
    "carrier": "The carrier is {value}.",
    "eta": "It's expected on {value}.",
    "delivered_on": "It was delivered on {value}.",
    "total": "The total was {value}.",
    "return_status": "The return status is {value}.",
    "refund": "The refund is {value}.",
    "refund_timing": "The refund is paid {value}.",
    "card": "This is about your card ending {value}.",
    "card_last4": "This is about your card ending {value}.",
    "card_status": "The card is {value}.",
    "replacement": "A replacement card arrives {value}.",
    "kind": "This is about your {value}.",
    "clinic": "It's at {value}.",
    "doctor": "It's with {value}.",
    "date": "It's on {value}.",
    "time": "It's at {value}.",
    "balance": "The balance is {value}.",
}
_SKIPPED_KEYS = {"summary", "reason", "tracking", "label"}


def _say_date_value(text: str) -> str | None:
    """'Thursday, December 3' / '2026-12-03' -> 'Thursday, December third' (as written, spoken)."""
    mentions = find_dates(text)
    if len(mentions) != 1:
        return None
    m = mentions[0]
    if m.month is None or m.day is None:
        return None
    month = date(2000, m.month, 1).strftime("%B")
    spoken = f"{month} {say_ordinal(m.day)}"
    if m.weekday is not None:
        spoken = f"{_WEEKDAY_NAMES[m.weekday].capitalize()}, {spoken}"
    if m.year is not None:
        spoken += f", {say_year(m.year)}"
    return text[: m.start] + spoken + text[m.end :]


def _speak_value(key: str, value: str) -> str:
    """A fact value as words a TTS voice reads correctly."""
    text = value.strip()
    amounts = find_amounts(text)
    if len(amounts) == 1 and amounts[0].start == 0 and amounts[0].end >= len(text.rstrip(".")):
        return say_money(amounts[0].value)
    if re.fullmatch(r"\d+", text):
        return say_digits(text)
    spoken_date = _say_date_value(text)
    if spoken_date:
        return spoken_date
    times = [m for m in find_times(text) if m.hour is not None]
    if len(times) == 1 and times[0].start == 0 and times[0].end >= len(text):
        moment = times[0].as_time(default_pm_below=0)
        if moment is not None:
            return say_time(moment)
    return re.sub(r"\d{3,}", lambda m: say_digits(m.group()), text)


def _fact_sentence(key: str, value: str) -> str:
    spoken = _speak_value(key, value)
    template = _TEMPLATES.get(key)
    if template:
        return template.format(value=spoken)
    label = re.sub(r"\d{3,}", lambda m: say_digits(m.group()), key.replace("_", " "))
    return f"The {label} is {spoken}."


def build_fallback_reply(facts: Mapping[str, str], message: str = "") -> str:
    """A reply made only of the facts, to say instead of a reply that failed the guard.

    `message` is a sentence already written from these same facts (a task's prepared reply);
    it is used as is when the guard passes it, else the facts are read out.
    """
    if message and check_reply(message, facts).ok:
        return message
    wanted = [k for k in _TEMPLATES if k in facts]
    others = [
        k
        for k in facts
        if k not in _TEMPLATES
        and k not in _SKIPPED_KEYS
        and not k.startswith("_")
        and not k.endswith("_id")
    ]
    sentences = [_fact_sentence(k, str(facts[k])) for k in wanted + others if str(facts[k]).strip()]
    if not sentences:
        return "I'm sorry, I don't have that information in front of me."
    return "Here's what I have. " + " ".join(sentences)
