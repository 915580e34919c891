"""Saying values aloud: the one place every reply gets its money, dates, times and lists from.

Two forms of each value:

- What a reply writes, and the transcript and the fact guard read: `say_money` -> "$2,341.17"
  (`say_cents` from the business's integer cents), `say_date` -> "Wednesday, December 9",
  `say_time` -> "9:30 AM", `say_when`, `say_list`, `say_count`, and `say_facts` for a business
  result's typed facts.
- What the voice reads: `speech_text.for_speech` turns the written forms into words just before
  synthesis, because a TTS voice reading "$1,249.50" or "4521" verbatim says them wrong:
  `money_words`, `date_words`, `time_words`, `say_digits` (identifiers digit by digit),
  `say_number`, `say_ordinal`, `say_year`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal

from num2words import num2words

_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    """'$1,249.50' / 1249.5 / Decimal -> Decimal('1249.50')."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    cleaned = re.sub(r"[^\d.\-]", "", str(value))
    return Decimal(cleaned or "0")


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


_CLOCK = re.compile(r"\s*(\d{1,2})(?::(\d\d))?(?::\d\d)?\s*(?:([ap])\.?\s*m\.?)?\s*", re.I)


def _as_time(value: time | datetime | str) -> time:
    """time, datetime, '14:30', '9:30 AM', '2 p.m.' -> time."""
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    m = _CLOCK.fullmatch(str(value))
    if m is None:
        raise ValueError(f"not a clock time: {value!r}")
    hour, minute, meridiem = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if meridiem:
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    return time(hour, minute)


# --- what a reply writes ---------------------------------------------------------------------


def say_money(amount: Decimal | int | float | str, currency: str = "USD") -> str:
    """Decimal('2341.17') -> '$2,341.17'; other currencies: '2,341.17 EUR'."""
    value = to_decimal(amount).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    written = f"{abs(value):,.2f}"
    return f"{sign}${written}" if currency == "USD" else f"{sign}{written} {currency}"


def say_cents(cents: int, currency: str = "USD") -> str:
    """The business's money (integer cents and a currency): 234117 -> '$2,341.17'."""
    return say_money(Decimal(int(cents)).scaleb(-2), currency)


def say_date(day: date | datetime | str, *, year: bool = False) -> str:
    """'Wednesday, December 9' (', 2026' with year=True): how a person says a date."""
    day = _as_date(day)
    return f"{day:%A}, {day:%B} {day.day}" + (f", {day.year}" if year else "")


def say_time(moment: time | datetime | str) -> str:
    """'9:30 AM'."""
    moment = _as_time(moment)
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def say_when(moment: datetime) -> str:
    """'Wednesday, December 9 at 9:30 AM'."""
    return f"{say_date(moment)} at {say_time(moment)}"


def say_list(items: Iterable[str], conjunction: str = "and") -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def say_facts(facts: Mapping[str, object]) -> dict[str, str]:
    """A business result's typed facts as a reply writes them, in their order: dates and times
    said, `<name>_cents` (with the `currency` fact) as money under `<name>`, lists joined;
    facts with no value are left out."""
    currency = str(facts.get("currency") or "USD")
    said: dict[str, str] = {}
    for key, value in facts.items():
        if key == "currency" or value is None:
            continue
        if key.endswith("_cents") and isinstance(value, int):
            said[key.removesuffix("_cents")] = say_cents(value, currency)
        elif isinstance(value, list | tuple):
            said[key] = say_list(_said(v) for v in value)
        else:
            said[key] = _said(value)
    return said


def _said(value: object) -> str:
    if isinstance(value, datetime):
        return say_when(value)
    if isinstance(value, date):
        return say_date(value)
    if isinstance(value, time):
        return say_time(value)
    return str(value)


def _plural(noun: str) -> str:
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def say_count(n: int, noun: str, plural: str | None = None) -> str:
    """(0, 'order') -> 'no orders'; 1 -> 'one order'; 2 -> 'two orders'; 12 -> '12 orders'."""
    words = noun if n == 1 else plural or _plural(noun)
    if n == 0:
        return f"no {words}"
    return f"{say_number(n) if 0 < n <= 10 else f'{n:,}'} {words}"


# --- what the voice reads --------------------------------------------------------------------


def say_number(value: int | str | Decimal) -> str:
    """1249 -> 'one thousand two hundred forty-nine' (American: no 'and', no commas)."""
    words = num2words(int(value))
    return re.sub(r",| and\b", "", words).replace("  ", " ")


def say_ordinal(value: int) -> str:
    """3 -> 'third', 21 -> 'twenty-first'."""
    return re.sub(r",| and\b", "", num2words(int(value), to="ordinal"))


def say_year(value: int) -> str:
    """2026 -> 'twenty twenty-six'; 2005 -> 'two thousand five'."""
    return re.sub(r",| and\b", "", num2words(int(value), to="year"))


def say_digits(text: str) -> str:
    """'4521' -> 'four five two one': identifiers are read digit by digit, never as amounts."""
    spoken = [
        (_DIGIT_NAMES[int(ch)] if ch.isdigit() else ch.upper()) for ch in str(text) if ch.isalnum()
    ]
    return " ".join(spoken)


def money_words(
    value: Decimal | int | float | str, unit: str = "dollar", cents_unit: str = "cent"
) -> str:
    """'$1,249.50' -> 'one thousand two hundred forty-nine dollars and fifty cents'."""
    amount = to_decimal(value).quantize(Decimal("0.01"))
    sign = "minus " if amount < 0 else ""
    amount = abs(amount)
    whole, cents = int(amount), int((amount - int(amount)) * 100)

    def counted(n: int, word: str) -> str:
        return f"{say_number(n)} {word}{'' if n == 1 else 's'}"

    if whole and cents:
        return f"{sign}{counted(whole, unit)} and {counted(cents, cents_unit)}"
    if cents:
        return sign + counted(cents, cents_unit)
    return sign + counted(whole, unit)


def date_words(value: date | datetime | str, *, weekday: bool = True, year: bool = False) -> str:
    """'2026-12-03' -> 'Thursday, December third'."""
    day = _as_date(value)
    text = f"{day:%B} {say_ordinal(day.day)}"
    if weekday:
        text = f"{day:%A}, {text}"
    if year:
        text += f", {say_year(day.year)}"
    return text


def time_words(value: time | datetime | str) -> str:
    """'14:30' -> 'two thirty p.m.', '09:05' -> 'nine oh five a.m.', '12:00' -> 'noon'."""
    moment = _as_time(value)
    if moment.minute == 0 and moment.hour in (0, 12):
        return "noon" if moment.hour == 12 else "midnight"
    hour = say_number(moment.hour % 12 or 12)
    suffix = "a.m." if moment.hour < 12 else "p.m."
    if moment.minute == 0:
        return f"{hour} {suffix}"
    minutes = say_number(moment.minute)
    if moment.minute < 10:
        minutes = f"oh {minutes}"
    return f"{hour} {minutes} {suffix}"
