"""Numbers, money, dates and times: reading them out of phone transcripts, writing them for speech.

Reading. Whisper writes what a caller says about numbers in many ways: "four five two one",
"forty five twenty one", "for five to one" (homophones), "4 5 2 1", "45 21", "four thousand five
hundred twenty one". The finders below turn all of these back into digit strings, amounts, dates
and times, each with its character span, so that one parser serves both slot filling (what did
the caller say?) and the fact guard (what does a reply claim?).

Writing. `say_*` render values the way a person reads them aloud, because a TTS voice reading
"$1,249.50" or "4521" verbatim says them the wrong way ("four thousand five hundred...").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from num2words import num2words

# --- vocabulary ------------------------------------------------------------------------------

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "niner": 9,
}
TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
MULTIPLIERS = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
# Words Whisper writes for digits it misheard; they only count inside a run of numbers.
HOMOPHONES = {"for": 4, "fore": 4, "to": 2, "too": 2, "won": 1, "ate": 8, "oh": 0, "o": 0}
# After a run, "for"/"to" followed by one of these is a preposition: "check 4488 for me",
# "4521 to my address"; a misheard last digit is followed by a pause or another number.
_PREPOSITION_OBJECTS = {
    "me",
    "you",
    "us",
    "him",
    "her",
    "them",
    "my",
    "your",
    "our",
    "his",
    "their",
    "the",
    "a",
    "an",
    "this",
    "that",
    "it",
}
ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
# Month names that are also everyday words count only next to a day number.
_AMBIGUOUS_MONTHS = {
    "may",
    "march",
    "mar",
    "jan",
    "dec",
    "sep",
    "oct",
    "nov",
    "jun",
    "jul",
    "aug",
    "apr",
    "feb",
    "sept",
}
WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_WEEKDAY_ABBREVIATIONS = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_CURRENCY_WORDS = {"dollar", "dollars", "buck", "bucks", "usd", "euro", "euros", "pound", "pounds"}
_CURRENCY_SYMBOLS = {"$", "€", "£"}
PARTS_OF_DAY = {
    "morning": "morning",
    "afternoon": "afternoon",
    "evening": "evening",
    "tonight": "evening",
    "night": "evening",
    "lunchtime": "afternoon",
}
# Words that may follow a bare "at 3" or "the 5th" when they really are a time or a date
# ("at 3 on Friday", "the 5th at noon"), as opposed to "at 3 locations", "the fifth floor".
_FOLLOWERS = {
    "at",
    "in",
    "on",
    "of",
    "and",
    "or",
    "to",
    "please",
    "then",
    "instead",
    "if",
    "would",
    "works",
    "work",
    "is",
    "okay",
    "ok",
    "for",
    "because",
    "so",
    "but",
    "next",
    "this",
    "morning",
    "afternoon",
    "evening",
    "tonight",
    "which",
    "that",
    "around",
    "about",
    "by",
    "between",
    "from",
    "thanks",
    "thank",
    "too",
    "as",
    "with",
    "before",
    "after",
    "until",
    "till",
    "sharp",
    "ish",
    "tomorrow",
    "today",
    "good",
    "fine",
    "possible",
    "maybe",
    "perhaps",
    "yes",
    "no",
    "right",
    "i",
    "we",
    "you",
    "it",
}
_TIME_CUES = {
    "at",
    "by",
    "around",
    "about",
    "until",
    "till",
    "before",
    "after",
    "from",
    "between",
    "til",
}


# --- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # num | word | sym | comma | hyph | brk
    text: str  # lower case; numbers without thousands commas
    start: int
    end: int
    ordinal: bool = False  # "3rd"


_TOKEN_RE = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<ord>(?:st|nd|rd|th)\b)?"
    r"|(?P<ampm>\b[ap]\.\s?m\b\.?)"
    r"|(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)"
    r"|(?P<sym>[$€£%#])|(?P<comma>,)|(?P<hyph>[-–—])|(?P<brk>[^\s\w])",
    re.IGNORECASE,
)


def tokenize(text: str) -> list[Token]:
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup if m.lastgroup != "ord" else "num"
        if m.group("num") is not None:
            tokens.append(
                Token(
                    "num",
                    m.group("num").replace(",", ""),
                    m.start(),
                    m.end(),
                    ordinal=m.group("ord") is not None,
                )
            )
        elif kind == "ampm":
            tokens.append(Token("word", m.group().lower()[0] + "m", m.start(), m.end()))
        elif kind == "word":
            tokens.append(Token("word", m.group().lower().replace("’", "'"), m.start(), m.end()))
        else:
            tokens.append(Token(kind or "brk", m.group(), m.start(), m.end()))
    return tokens


def _word(tokens: Sequence[Token], i: int) -> str:
    """The token's text when it is a word, else '' (also past either end)."""
    return tokens[i].text if 0 <= i < len(tokens) and tokens[i].kind == "word" else ""


# --- runs of numbers -------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberRun:
    """Adjacent number words and digits read as one number: 'forty five twenty one' -> '4521'."""

    digits: str  # digits, with a '.' for decimals: "4521", "1249.50"
    parts: tuple[str, ...]  # the spoken groups: ("45", "21")
    start: int
    end: int
    first_token: int
    last_token: int  # inclusive


# (kind, value): ("lit", "4521"), ("unit", 4), ("tens", 40), ("mult", 100), ("and", 0), ...
Item = tuple[str, int | str]


def _strong(tok: Token) -> Item | None:
    """(kind, value) for a token that is a number on its own, whatever surrounds it."""
    if tok.kind == "num" and not tok.ordinal:
        return "lit", tok.text
    if tok.kind != "word":
        return None
    for kind, table in (("unit", UNITS), ("teen", TEENS), ("tens", TENS), ("mult", MULTIPLIERS)):
        if tok.text in table:
            return kind, table[tok.text]
    return None


def _is_single(item: Item | None) -> bool:
    """A single digit: 'four', '4' (what digit-by-digit reading is made of)."""
    if item is None:
        return False
    kind, value = item
    return kind == "unit" or (kind == "lit" and len(str(value)) == 1)


def _contextual(tokens: Sequence[Token], items: list[Item | None]) -> list[Item | None]:
    """'a hundred', 'two hundred and five', 'double five', 'forty nine point five'."""
    out = list(items)
    for i, tok in enumerate(tokens):
        if out[i] is not None or tok.kind != "word":
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        prev = items[i - 1] if i > 0 else None
        if tok.text == "a" and nxt and nxt[0] == "mult":
            out[i] = ("unit", 1)
        elif tok.text == "and" and prev and prev[0] == "mult" and nxt and nxt[0] != "mult":
            out[i] = ("and", 0)
        elif tok.text == "point" and prev and nxt and _is_single(nxt):
            out[i] = ("point", 0)
        elif tok.text in ("double", "triple") and nxt and nxt[0] == "unit":
            out[i] = ("repeat", 2 if tok.text == "double" else 3)
    return out


def _neighbour(tokens: Sequence[Token], i: int, step: int) -> int:
    """Index of the next token in direction `step`, stepping over one comma or hyphen."""
    j = i + step
    if 0 <= j < len(tokens) and tokens[j].kind in ("comma", "hyph"):
        j += step
    return j if 0 <= j < len(tokens) else -1


def _window(tokens: Sequence[Token], items: list[Item | None], i: int) -> list[int]:
    """Indices of the stretch of number-ish tokens (numbers and homophones) around i."""

    def numberish(j: int) -> bool:
        return items[j] is not None or _word(tokens, j) in HOMOPHONES

    found = [i]
    for step in (-1, 1):
        j = _neighbour(tokens, i, step)
        while j != -1 and numberish(j):
            found.append(j)
            j = _neighbour(tokens, j, step)
    return sorted(found)


def _accept_homophone(tokens: Sequence[Token], items: list[Item | None], i: int) -> bool:
    """Is 'for'/'to'/'oh'/... at i a misheard digit? Only inside a digit-by-digit sequence.

    "for five to one" is an order number; "I want to return it", "two hundred to savings",
    "five to ten minutes" and "table for two" are not.
    """
    word = tokens[i].text
    prev, nxt = _neighbour(tokens, i, -1), _neighbour(tokens, i, 1)
    prev_item = items[prev] if prev != -1 else None
    next_item = items[nxt] if nxt != -1 else None
    if word in ("oh", "o"):  # "two oh one"; a leading "oh," is an interjection
        return _is_single(prev_item) and _is_single(next_item)
    window = _window(tokens, items, i)
    strong = [j for j in window if items[j] is not None]
    if len(strong) < 2 or any(items[j][0] == "mult" for j in strong):
        return False

    def single_or_homophone(j: int) -> bool:
        return j != -1 and (
            _is_single(items[j]) or (items[j] is None and _word(tokens, j) in HOMOPHONES)
        )

    inside = [j for j in (prev, nxt) if j in window]
    if inside == [prev] and _word(tokens, nxt) in _PREPOSITION_OBJECTS:
        return False  # "four four eight eight for me"
    if len(inside) == 1 and abs(inside[0] - i) > 1:
        return False  # at the edge of a run, only directly next to a digit
    if len(inside) == 2 and not all(single_or_homophone(j) for j in inside):
        return False  # "five to ten": a range, not digits
    if len(inside) == 1 and not _is_single(items[inside[0]]):
        return False  # "for 4521", "fifty to savings"
    tentative = [
        items[j] if items[j] is not None else ("unit", HOMOPHONES[_word(tokens, j)]) for j in window
    ]
    return len("".join(_compose(tentative)).replace(".", "")) >= 4


def _joins(tokens: Sequence[Token], items: list[Item | None], left: int, right: int) -> bool:
    """Whether a comma or hyphen between two numbers keeps them in one run.

    "4, 5, 2, 1" and "forty-five" are one number; "December 3, 2026" and "5-7 days" are not.
    """
    sep = tokens[left + 1]
    a, b = items[left], items[right]
    if _is_single(a) and _is_single(b):
        # A chain of three or more: "4-5-2-1"; two alone are a range or a list: "5-7 days".
        before = left - 2 >= 0 and tokens[left - 1].kind == sep.kind and _is_single(items[left - 2])
        after = (
            right + 2 < len(tokens)
            and tokens[right + 1].kind == sep.kind
            and _is_single(items[right + 2])
        )
        return before or after
    return sep.kind == "hyph" and a[0] == "tens" and b[0] == "unit" and tokens[left].kind == "word"


def _compose(items: Sequence[Item]) -> list[str]:
    """Spoken groups of a run: 'forty five twenty one' -> ['45', '21']; '4 thousand' -> ['4000']."""
    parts: list[str] = []
    total, current, open_, last = 0, 0, False, ""
    repeat, decimals = 1, False

    def flush() -> None:
        nonlocal total, current, open_
        if open_:
            parts.append(str(total + current))
        total, current, open_ = 0, 0, False

    for index, (kind, value) in enumerate(items):
        nxt = items[index + 1][0] if index + 1 < len(items) else ""
        decimals = decimals and kind == "unit"
        if kind == "lit":
            text = str(value)
            if nxt == "mult" and text.isdigit():
                flush()
                current, open_ = int(text), True
            else:
                flush()
                parts.append(text)
        elif kind == "repeat":
            flush()
            repeat = int(value)
        elif kind == "point":
            flush()
            if parts:
                parts[-1] += "."
                decimals = True
        elif kind == "and":
            pass
        elif kind == "mult":
            factor = int(value)
            base = current if open_ and current else 1
            if factor == 100:
                current, open_ = base * 100, True
            else:
                total, current, open_ = total + base * factor, 0, True
        elif kind == "unit" and repeat > 1:
            flush()
            parts.append(str(value) * repeat)
            repeat = 1
        elif decimals and kind == "unit":
            parts[-1] += str(value)  # decimals after "point" are read digit by digit
        elif open_ and (last in ("mult", "and") or (last == "tens" and kind == "unit")):
            current += int(value)
        else:
            flush()
            current, open_ = int(value), True
        last = kind
    flush()
    return parts


def number_runs(text: str, tokens: Sequence[Token] | None = None) -> list[NumberRun]:
    """Every run of numbers in the text, spoken or written, in order."""
    tokens = tokenize(text) if tokens is None else tokens
    items = _contextual(tokens, [_strong(t) for t in tokens])
    for i, tok in enumerate(tokens):
        if (
            items[i] is None
            and tok.kind == "word"
            and tok.text in HOMOPHONES
            and _accept_homophone(tokens, items, i)
        ):
            items[i] = ("unit", HOMOPHONES[tok.text])
    runs: list[NumberRun] = []
    i = 0
    while i < len(tokens):
        if items[i] is None:
            i += 1
            continue
        members = [i]
        while True:
            j = members[-1] + 1
            if j < len(tokens) and items[j] is not None:
                members.append(j)
            elif (
                j + 1 < len(tokens)
                and tokens[j].kind in ("comma", "hyph")
                and items[j + 1] is not None
                and _joins(tokens, items, j - 1, j + 1)
            ):
                members.append(j + 1)
            else:
                break
        parts = _compose([items[k] for k in members])
        if parts:
            digits = "".join(p.rstrip(".") for p in parts)
            runs.append(
                NumberRun(
                    digits,
                    tuple(parts),
                    tokens[members[0]].start,
                    tokens[members[-1]].end,
                    members[0],
                    members[-1],
                )
            )
        i = members[-1] + 1
    return runs


def spoken_digits(text: str) -> list[str]:
    """Digit strings in a transcript: 'for five to one' -> ['4521'], '$1,249.50' -> ['1249.50'].

    Homophones (for, to, won, ate, oh) count only inside a run of number words, so
    "I want to return it" gives [].
    """
    return [run.digits for run in number_runs(text)]


# --- money -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    value: Decimal
    start: int
    end: int


def _decimal(digits: str) -> Decimal | None:
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[Amount]:
    """Sums of money: '$49', '49.50 dollars', 'forty nine dollars and fifty cents', '50 cents'."""
    tokens = tokenize(text)
    runs = number_runs(text, tokens)
    by_first = {run.first_token: run for run in runs}
    found: list[Amount] = []
    used: set[int] = set()
    for n, run in enumerate(runs):
        if n in used:
            continue
        value = _decimal(run.digits)
        if value is None:
            continue
        before = tokens[run.first_token - 1] if run.first_token > 0 else None
        after = _word(tokens, run.last_token + 1)
        end = run.end
        if after in ("cent", "cents"):
            found.append(Amount(value / 100, run.start, tokens[run.last_token + 1].end))
            continue
        symbol = before is not None and before.text in _CURRENCY_SYMBOLS
        if not symbol and after not in _CURRENCY_WORDS:
            continue
        start = before.start if symbol and before else run.start
        k = run.last_token + 1
        if after in _CURRENCY_WORDS:
            end = tokens[k].end
            k += 1
        joined = _word(tokens, k) == "and"
        cents = by_first.get(k + joined)
        if cents is not None and len(cents.digits) <= 2 and cents.digits.isdigit():
            cents_word = _word(tokens, cents.last_token + 1) in ("cent", "cents")
            if cents_word or (after in _CURRENCY_WORDS and not joined):  # "49 dollars 50"
                value += Decimal(cents.digits) / 100
                end = tokens[cents.last_token + cents_word].end
                used.add(runs.index(cents))
        found.append(Amount(value, start, end))
    return found


def spoken_amounts(text: str) -> list[Decimal]:
    return [amount.value for amount in find_amounts(text)]


def parse_amount(text: str) -> Decimal | None:
    """The first sum of money in the text; a bare number counts too ('49.00' -> 49.00)."""
    amounts = spoken_amounts(text)
    if amounts:
        return amounts[0]
    runs = number_runs(text)
    return _decimal(runs[0].digits) if len(runs) == 1 else None


# --- times -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeMention:
    hour: int | None  # 0-23 when the meridiem is known, else 1-12 as said; None: part of day
    minute: int
    meridiem: str | None  # "am" | "pm" | None (unknown)
    part_of_day: str | None  # "morning" | "afternoon" | "evening"
    start: int
    end: int

    def as_time(self, default_pm_below: int = 7) -> time | None:
        """A clock time; a bare 'at 3' is read as afternoon, 'at 9' as morning (office hours)."""
        if self.hour is None:
            return None
        hour = self.hour
        if self.meridiem == "pm" and hour < 12:
            hour += 12
        elif self.meridiem == "am" and hour == 12:
            hour = 0
        elif (
            self.meridiem is None
            and hour < 12
            and (
                self.part_of_day in ("afternoon", "evening")
                or (self.part_of_day is None and hour < default_pm_below)
            )
        ):
            hour += 12
        return time(hour % 24, self.minute)


def _clock(parts: Sequence[str]) -> tuple[int, int] | None:
    """('3', '30') or ('330',) or ('3.30',) -> (3, 30)."""
    if len(parts) == 1:
        text = parts[0]
        if "." in text:
            hours, _, minutes = text.partition(".")
        elif len(text) <= 2:
            hours, minutes = text, "0"
        elif len(text) in (3, 4):
            hours, minutes = text[:-2], text[-2:]
        else:
            return None
    else:
        hours, minutes = parts[0], "".join(parts[1:])
        if len(minutes) > 2:
            return None
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    hour, minute = int(hours), int(minutes)
    return (hour, minute) if hour <= 23 and minute <= 59 else None


def _meridiem(tokens: Sequence[Token], k: int) -> tuple[str | None, int]:
    """'pm' / 'am' / "o'clock" at k: (meridiem, tokens used)."""
    word = _word(tokens, k)
    if word in ("am", "pm"):
        return word, 1
    if word in ("o'clock", "oclock"):
        return None, 1
    if word == "o" and _word(tokens, k + 1) in ("clock",):
        return None, 2
    return None, 0


def _part_of_day_after(tokens: Sequence[Token], k: int) -> tuple[str | None, int]:
    """'in the morning', 'this afternoon', 'tonight' right after a time."""
    words = [_word(tokens, k + n) for n in range(3)]
    if words[0] in PARTS_OF_DAY:
        return PARTS_OF_DAY[words[0]], 1
    if words[0] in ("in", "this", "at") and words[1] == "the" and words[2] in PARTS_OF_DAY:
        return PARTS_OF_DAY[words[2]], 3
    if words[0] in ("this", "at", "tomorrow") and words[1] in PARTS_OF_DAY:
        return PARTS_OF_DAY[words[1]], 2
    return None, 0


def _time_from_run(tokens: Sequence[Token], run: NumberRun) -> TimeMention | None:
    k = run.last_token + 1
    cue = _word(tokens, run.first_token - 1)
    colon = (
        k + 1 < len(tokens)
        and tokens[k].text == ":"
        and tokens[k + 1].kind == "num"
        and len(tokens[k + 1].text) == 2
    )
    parts: Sequence[str] = run.parts
    if colon:
        parts = (run.digits, tokens[k + 1].text)
        k += 2
    meridiem, used = _meridiem(tokens, k)
    k += used
    part, used_part = _part_of_day_after(tokens, k)
    plain_end = (
        k >= len(tokens) or tokens[k].kind in ("brk", "comma") or _word(tokens, k) in _FOLLOWERS
    )
    if not (colon or used or used_part or (cue in _TIME_CUES and plain_end)):
        return None
    clock = _clock(parts)
    if clock is None or (not colon and not used and clock[0] > 12):
        return None
    hour, minute = clock
    if meridiem is None and part in ("morning",):
        meridiem = "am"
    elif meridiem is None and part in ("afternoon", "evening") and hour < 12:
        meridiem = "pm"
    end = tokens[k + used_part - 1].end
    start = tokens[run.first_token - 1].start if cue in _TIME_CUES else run.start
    return TimeMention(hour, minute, meridiem, part, start, end)


def _phrase_time(tokens: Sequence[Token], i: int) -> tuple[TimeMention, int] | None:
    """'half past two', 'quarter to five', 'noon', 'midnight' starting at token i."""
    word = _word(tokens, i)
    if word in ("noon", "midday"):
        return TimeMention(12, 0, "pm", None, tokens[i].start, tokens[i].end), i + 1
    if word == "midnight":
        return TimeMention(12, 0, "am", None, tokens[i].start, tokens[i].end), i + 1
    if word not in ("half", "quarter") or _word(tokens, i + 1) not in ("past", "to", "after"):
        return None
    hour_item = _strong(tokens[i + 2]) if i + 2 < len(tokens) else None
    if hour_item is None or hour_item[0] not in ("unit", "teen", "lit"):
        return None
    hour = int(str(hour_item[1])) if str(hour_item[1]).isdigit() else -1
    if not 1 <= hour <= 12:
        return None
    minute = 30 if word == "half" else 15
    if _word(tokens, i + 1) == "to":
        hour, minute = (hour - 1) or 12, 45
    meridiem, used = _meridiem(tokens, i + 3)
    part, used_part = _part_of_day_after(tokens, i + 3 + used)
    if meridiem is None and part:
        meridiem = "am" if part == "morning" else "pm"
    last = i + 2 + used + used_part
    return TimeMention(hour, minute, meridiem, part, tokens[i].start, tokens[last].end), last + 1


def find_times(text: str) -> list[TimeMention]:
    """Clock times ('3 pm', 'at 3:30', 'half past two', 'noon') and bare parts of the day."""
    tokens = tokenize(text)
    found: list[TimeMention] = []
    covered: set[int] = set()
    i = 0
    while i < len(tokens):
        phrase = _phrase_time(tokens, i)
        if phrase:
            found.append(phrase[0])
            covered.update(range(i, phrase[1]))
            i = phrase[1]
        else:
            i += 1
    for run in number_runs(text, tokens):
        if run.first_token in covered:
            continue
        mention = _time_from_run(tokens, run)
        if mention:
            found.append(mention)
            covered.update(
                k for k, t in enumerate(tokens) if mention.start <= t.start < mention.end
            )
    for k, tok in enumerate(tokens):
        if k not in covered and tok.kind == "word" and tok.text in PARTS_OF_DAY:
            found.append(TimeMention(None, 0, None, PARTS_OF_DAY[tok.text], tok.start, tok.end))
    return sorted(found, key=lambda m: m.start)


# --- dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateMention:
    """A date as said: any of its parts may be missing ('Friday', 'the 3rd', 'December')."""

    weekday: int | None  # Monday = 0
    month: int | None
    day: int | None
    year: int | None
    relative: str | None  # today, tomorrow, next week, next (as in 'next Tuesday'), in 3 days...
    start: int
    end: int


_RELATIVE_WORDS = {
    "today": "today",
    "tonight": "today",
    "tomorrow": "tomorrow",
    "tmrw": "tomorrow",
    "yesterday": "yesterday",
}
_PERIODS = {"week": "week", "month": "month", "weekend": "weekend", "year": "year"}


def _ordinal_word(tokens: Sequence[Token], i: int) -> tuple[int, int] | None:
    """'third', 'twenty third', 'twenty-first' at i: (day, tokens used)."""
    word = _word(tokens, i)
    if word in ORDINALS:
        return ORDINALS[word], 1
    if word in TENS:
        k = i + 1 + (i + 1 < len(tokens) and tokens[i + 1].kind == "hyph")
        unit = _word(tokens, k)
        if unit in ORDINALS and ORDINALS[unit] < 10:
            return TENS[word] + ORDINALS[unit], k - i + 1
    return None


def _day_at(tokens: Sequence[Token], i: int, cardinal_ok: bool) -> tuple[int, int] | None:
    """A day of the month at i: '3rd', 'third', and, next to a month name, '3' or 'three'."""
    if i >= len(tokens):
        return None
    tok = tokens[i]
    if tok.kind == "num" and tok.text.isdigit() and (tok.ordinal or cardinal_ok):
        return (int(tok.text), 1) if 1 <= int(tok.text) <= 31 else None
    ordinal = _ordinal_word(tokens, i)
    if ordinal:
        return ordinal if 1 <= ordinal[0] <= 31 else None
    if not cardinal_ok:
        return None
    word = _word(tokens, i)
    if word in TENS and _word(tokens, i + 1) in UNITS and TENS[word] < 40:
        return TENS[word] + UNITS[_word(tokens, i + 1)], 2
    value = UNITS.get(word, TEENS.get(word, TENS.get(word)))
    return (value, 1) if value and 1 <= value <= 31 else None


def _year_at(tokens: Sequence[Token], i: int) -> tuple[int, int] | None:
    """', 2026' or ' 2026' after a day."""
    k = i + (i < len(tokens) and tokens[i].kind == "comma")
    if k < len(tokens) and tokens[k].kind == "num" and re.fullmatch(r"(19|20)\d\d", tokens[k].text):
        return int(tokens[k].text), k - i + 1
    return None


def _month_at(tokens: Sequence[Token], text: str, i: int) -> int | None:
    word = _word(tokens, i)
    if word not in MONTHS:
        return None
    written_as_name = text[tokens[i].start].isupper()
    if len(word) <= 4 and word not in ("may", "june", "july") and not written_as_name:
        return None  # "mar", "jan" as abbreviations only when written like names
    return MONTHS[word]


def _skip_dot(tokens: Sequence[Token], k: int) -> int:
    return k + 1 if k < len(tokens) and tokens[k].text == "." else k


def _month_first(tokens: Sequence[Token], text: str, i: int) -> tuple[DateMention, int] | None:
    """'December 3', 'Dec. 3rd, 2026', 'December the third', 'December'."""
    month = _month_at(tokens, text, i)
    if month is None:
        return None
    k = _skip_dot(tokens, i + 1)
    k += _word(tokens, k) == "the"
    day = _day_at(tokens, k, cardinal_ok=True)
    if day is None:
        if _word(tokens, i) in _AMBIGUOUS_MONTHS:
            return None
        return DateMention(None, month, None, None, None, tokens[i].start, tokens[i].end), i + 1
    k += day[1]
    year = _year_at(tokens, k)
    if year:
        k += year[1]
    return DateMention(
        None, month, day[0], year[0] if year else None, None, tokens[i].start, tokens[k - 1].end
    ), k


def _day_first(tokens: Sequence[Token], text: str, i: int) -> tuple[DateMention, int] | None:
    """'the 3rd of December', '3 December 2026', 'the 5th' (with a plausible follower)."""
    k = i + (_word(tokens, i) == "the")
    day = _day_at(tokens, k, cardinal_ok=k < len(tokens) and tokens[k].kind == "num")
    if day is None:
        return None
    k += day[1]
    m = k + (_word(tokens, k) == "of")
    month = _month_at(tokens, text, m)
    if month is not None:
        end = _skip_dot(tokens, m + 1)
        year = _year_at(tokens, end)
        end += year[1] if year else 0
        return DateMention(
            None,
            month,
            day[0],
            year[0] if year else None,
            None,
            tokens[i].start,
            tokens[end - 1].end,
        ), end
    is_ordinal = tokens[k - day[1]].ordinal or _ordinal_word(tokens, k - day[1]) is not None
    the = _word(tokens, i) == "the"
    if not is_ordinal or (tokens[k - 1].kind == "word" and not the):
        return None  # "first, let me check": word ordinals need "the"
    follower_ok = (
        k >= len(tokens) or tokens[k].kind in ("brk", "comma") or _word(tokens, k) in _FOLLOWERS
    )
    if not follower_ok:
        return None  # "the fifth floor", "the 2nd item"
    return DateMention(None, None, day[0], None, None, tokens[i].start, tokens[k - 1].end), k


def _numeric(tokens: Sequence[Token], i: int) -> tuple[DateMention, int] | None:
    """'12/3', '12/03/2026', '2026-12-03'."""

    def num(k: int) -> int | None:
        ok = k < len(tokens) and tokens[k].kind == "num" and tokens[k].text.isdigit()
        return int(tokens[k].text) if ok and not tokens[k].ordinal else None

    def sep(k: int, char: str) -> bool:
        return k < len(tokens) and tokens[k].text == char and tokens[k].start == tokens[k - 1].end

    first = num(i)
    if first is None:
        return None
    if len(tokens[i].text) == 4 and sep(i + 1, "-") and sep(i + 3, "-"):
        month, day = num(i + 2), num(i + 4)
        if month and day and 1 <= month <= 12 and 1 <= day <= 31:
            return DateMention(
                None, month, day, first, None, tokens[i].start, tokens[i + 4].end
            ), i + 5
        return None
    if not sep(i + 1, "/"):
        return None
    day = num(i + 2)
    if day is None or not (1 <= first <= 12 and 1 <= day <= 31):
        return None
    year, end = None, i + 3
    if sep(i + 3, "/") and num(i + 4) is not None and len(tokens[i + 4].text) in (2, 4):
        year = int(tokens[i + 4].text)
        year += 2000 if year < 100 else 0
        end = i + 5
    return DateMention(None, first, day, year, None, tokens[i].start, tokens[end - 1].end), end


def _weekday_at(tokens: Sequence[Token], text: str, i: int) -> int | None:
    word = _word(tokens, i)
    if word in WEEKDAYS or (word.endswith("s") and word[:-1] in WEEKDAYS):
        return WEEKDAYS.get(word, WEEKDAYS.get(word[:-1]))
    if word in _WEEKDAY_ABBREVIATIONS and text[tokens[i].start].isupper():
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt and (nxt.text in (".", ",") or _word(tokens, i + 1) in MONTHS):
            return _WEEKDAY_ABBREVIATIONS[word]
    return None


def _relative(tokens: Sequence[Token], i: int) -> tuple[DateMention, int] | None:
    """'tomorrow', 'the day after tomorrow', 'next week', 'this weekend', 'in 3 days'."""
    word, nxt = _word(tokens, i), _word(tokens, i + 1)
    start = tokens[i].start if i < len(tokens) else 0

    def mention(relative: str, used: int) -> tuple[DateMention, int]:
        return DateMention(
            None, None, None, None, relative, start, tokens[i + used - 1].end
        ), i + used

    if word == "day" and nxt == "after" and _word(tokens, i + 2) == "tomorrow":
        return mention("day after tomorrow", 3)
    if (
        word == "the"
        and nxt == "day"
        and _word(tokens, i + 2) == "after"
        and _word(tokens, i + 3) == "tomorrow"
    ):
        return mention("day after tomorrow", 4)
    if word in _RELATIVE_WORDS:
        return mention(_RELATIVE_WORDS[word], 1)
    if word in ("next", "this", "last", "coming") and nxt in _PERIODS:
        return mention(f"{word} {_PERIODS[nxt]}", 2)
    if word == "end" and nxt == "of" and _word(tokens, i + 2) in ("the", "this", "next"):
        period = _word(tokens, i + 3)
        if period in _PERIODS:
            return mention(f"end of {_PERIODS[period]}", 4)
    if word == "weekend":
        return mention("weekend", 1)
    if word in ("in", "within") and i + 1 < len(tokens):
        runs = number_runs("", tokens[i + 1 : i + 4])
        amount = runs[0] if runs and runs[0].first_token == 0 else None
        used = amount.last_token + 1 if amount else (1 if nxt in ("a", "an") else 0)
        count = amount.digits if amount else "1"
        unit = _word(tokens, i + 1 + used)
        if used and unit.rstrip("s") in ("day", "week") and count.isdigit():
            return mention(f"in {int(count)} {unit.rstrip('s')}s", used + 2)
    return None


def _with_weekday(tokens: Sequence[Token], text: str, i: int) -> tuple[DateMention, int] | None:
    """'next Tuesday', 'Thursday, December 3', 'Thursday the 3rd', 'Tuesday next week'."""
    qualifier = _word(tokens, i) if _word(tokens, i) in ("next", "this", "coming", "last") else None
    k = i + (qualifier is not None)
    weekday = _weekday_at(tokens, text, k)
    if weekday is None:
        return None
    end = _skip_dot(tokens, k + 1)
    relative = qualifier
    after = end + (end < len(tokens) and tokens[end].kind == "comma")
    rest = (
        _numeric(tokens, after)
        or _month_first(tokens, text, after)
        or _day_first(tokens, text, after)
    )
    if rest and rest[0].day is not None:
        date_part, end = rest
        return DateMention(
            weekday,
            date_part.month,
            date_part.day,
            date_part.year,
            relative,
            tokens[i].start,
            tokens[end - 1].end,
        ), end
    if _word(tokens, end) in ("next", "this") and _word(tokens, end + 1) == "week":
        relative, end = f"{_word(tokens, end)} week", end + 2
    return DateMention(
        weekday, None, None, None, relative, tokens[i].start, tokens[end - 1].end
    ), end


def find_dates(text: str) -> list[DateMention]:
    """Dates said or written in text, with their spans, left to right."""
    tokens = tokenize(text)
    found: list[DateMention] = []
    i = 0
    while i < len(tokens):
        hit = (
            _with_weekday(tokens, text, i)
            or _numeric(tokens, i)
            or _month_first(tokens, text, i)
            or _day_first(tokens, text, i)
            or _relative(tokens, i)
        )
        if hit:
            found.append(hit[0])
            i = max(hit[1], i + 1)
        else:
            i += 1
    return found


# --- saying things ---------------------------------------------------------------------------

_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def say_number(value: int | str | Decimal) -> str:
    """1249 -> 'one thousand two hundred forty-nine' (American: no 'and', no commas)."""
    words = num2words(int(value))
    return re.sub(r",| and\b", "", words).replace("  ", " ")


def say_ordinal(value: int) -> str:
    """3 -> 'third', 21 -> 'twenty-first'."""
    return re.sub(r",| and\b", "", num2words(int(value), to="ordinal"))


def say_digits(text: str) -> str:
    """'4521' -> 'four five two one': identifiers are read digit by digit, never as amounts."""
    spoken = [
        (_DIGIT_NAMES[int(ch)] if ch.isdigit() else ch.upper()) for ch in str(text) if ch.isalnum()
    ]
    return " ".join(spoken)


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    """'$1,249.50' / 1249.5 / Decimal -> Decimal('1249.50')."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    cleaned = re.sub(r"[^\d.\-]", "", str(value))
    return Decimal(cleaned or "0")


def say_money(
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


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


def say_date(value: date | datetime | str, *, weekday: bool = True, year: bool = False) -> str:
    """'2026-12-03' -> 'Thursday, December third'."""
    day = _as_date(value)
    text = f"{day:%B} {say_ordinal(day.day)}"
    if weekday:
        text = f"{day:%A}, {text}"
    if year:
        text += f", {say_year(day.year)}"
    return text


def say_year(value: int) -> str:
    """2026 -> 'twenty twenty-six'; 2005 -> 'two thousand five'."""
    return re.sub(r",| and\b", "", num2words(int(value), to="year"))


def _as_time(value: time | datetime | str) -> time:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    mentions = [m for m in find_times(str(value)) if m.hour is not None]
    if mentions:
        found = mentions[0].as_time(default_pm_below=0)
        if found is not None:
            return found
    return time.fromisoformat(str(value).strip())


def say_time(value: time | datetime | str) -> str:
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
