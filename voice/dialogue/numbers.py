"""Numbers, money, dates and times in phone transcripts, each with its place in the text.

Whisper writes what a caller says about numbers in many ways: "four five two one", "forty five
twenty one", "for five to one", "4 5 2 1", "45 21", "four thousand five hundred twenty one".
Libraries do the general work: text2num reads spoken number words (on our own tokens, so every
number keeps its span), dateparser turns a located date phrase into a calendar day with the
tense the caller used. What no library does for phone speech stays here: joining a run of digits
into one identifier, the homophones Whisper writes for digits ("for", "to", "won", "ate", "oh"),
"double seven", and finding date and time phrases in a sentence (dateparser's own search reads
"4521" as a year and "the one on Monday" as January 7). One reader serves slot filling (what did
the caller say?) and the fact guard (what does a reply claim?). Saying values aloud:
voice.dialogue.saying.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import dateparser
from text_to_num import find_numbers

# Re-exported for tests/test_fact_guard.py, which imports it from here.
from voice.dialogue.saying import say_ordinal  # noqa: F401

# Words Whisper writes for digits it misheard, with the digit; they count only inside a run of
# digits. The STT's own test for a digit string reads the same table.
from voice.engines.digit_strings import HOMOPHONES


def _words(text: str) -> list[str]:
    return text.split()


# "check 4488 for me", "4521 to my address": a preposition, not a misheard last digit.
_PREPOSITION_OBJECTS = set(
    _words("a an her him his it me my our that the their them this us you your")
)
# Words that may follow "at 3" or "the 5th" when they really are a time or a date ("at 3 on
# Friday", "the 5th at noon"), as opposed to "at 3 locations", "the fifth floor".
_FOLLOWERS = set(
    _words(
        "about after afternoon and around as at because before between but by evening fine for "
        "from good i if in instead is ish it maybe morning next no of ok okay on or perhaps please "
        "possible right sharp so thank thanks that then this till to today tomorrow tonight too "
        "until we which with work works would yes you"
    )
)
_MULTIPLIERS = ("hundred", "thousand", "million")
_PRONOUN_ONE = set(_words("the that this which each every another any no other right wrong same"))
_BARE_FOLLOWERS = _FOLLOWERS - set(_words("of i we you it that which yes no right good fine"))
_TIME_CUES = "at|by|around|about|until|till|til|before|after|from|between"
MONTHS = tuple(
    _words("january february march april may june july august september october november december")
)
WEEKDAYS = tuple(_words("monday tuesday wednesday thursday friday saturday sunday"))
PARTS_OF_DAY = {
    "morning": "morning",
    "afternoon": "afternoon",
    "lunchtime": "afternoon",
    "evening": "evening",
    "tonight": "evening",
    "night": "evening",
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
            number = m.group("num").replace(",", "")
            tokens.append(Token("num", number, m.start(), m.end(), m.group("ord") is not None))
        elif kind == "ampm":
            tokens.append(Token("word", m.group().lower()[0] + "m", m.start(), m.end()))
        elif kind == "word":
            tokens.append(Token("word", m.group().lower().replace("’", "'"), m.start(), m.end()))
        else:
            tokens.append(Token(kind or "brk", m.group(), m.start(), m.end()))
    return tokens


def _word(tokens: list[Token], i: int) -> str:
    """The token's text when it is a word, else '' (also past either end)."""
    return tokens[i].text if 0 <= i < len(tokens) and tokens[i].kind == "word" else ""


class _Word:
    """A token as text2num's find_numbers sees it."""

    __slots__ = ("skip", "word")

    def __init__(self, token: Token, skip: bool):
        self.word, self.skip = token.text, skip

    def text(self) -> str:
        return self.word

    def nt_separated(self, previous: _Word) -> bool:
        return False

    def not_a_number_part(self) -> bool:
        return self.skip


def _skipped(tokens: list[Token], i: int) -> bool:
    """Number words that are no number here: "oh" (a digit only next to digits, decided
    below), plurals ("thousands of"), and "one" as a pronoun ("the right one", "that one")."""
    word = tokens[i].text
    if word == "one":
        return bool(_PRONOUN_ONE & {_word(tokens, i - 1), _word(tokens, i - 2)})
    return word in ("o", "oh", "ones", "hundreds", "thousands", "millions")


@lru_cache(maxsize=512)
def _read(text: str) -> tuple[list[Token], list[tuple[int, int, str, bool]]]:
    """Tokens, and the spoken numbers text2num finds in them: (first, end, digits, ordinal)."""
    tokens = tokenize(text)
    return tokens, _spoken(tokens)


def _spoken(tokens: list[Token]) -> list[tuple[int, int, str, bool]]:
    found = find_numbers([_Word(t, _skipped(tokens, i)) for i, t in enumerate(tokens)], "en", 0)
    return [(o.start, o.end, o.text, o.is_ordinal) for o in found]


# --- runs of digits --------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberRun:
    """Adjacent numbers read as one: 'forty five twenty one' -> '4521'."""

    digits: str  # digits, with a '.' for decimals: "4521", "1249.50"
    parts: tuple[str, ...]  # the spoken groups: ("45", "21")
    start: int
    end: int
    first_token: int
    last_token: int  # inclusive


@dataclass(frozen=True)
class _Unit:
    first: int  # token indices, inclusive
    last: int
    digits: str  # "" for a homophone not (yet) read as a digit
    word: str = ""

    @property
    def single(self) -> bool:
        return len(self.digits) == 1


def _gap(tokens: list[Token], a: _Unit, b: _Unit) -> str | None:
    """'' when b follows a directly, 'comma'/'hyph' across one such token, else None."""
    between = b.first - a.last - 1
    if between == 0:
        return ""
    if between == 1 and tokens[a.last + 1].kind in ("comma", "hyph"):
        return tokens[a.last + 1].kind
    return None


def _units(tokens: list[Token], spoken: list[tuple[int, int, str, bool]]) -> list[_Unit]:
    """Numbers (spoken, written, 'double five') and candidate homophones, left to right."""
    units = [_Unit(s, e - 1, text) for s, e, text, ordinal in spoken if not ordinal]
    for i, tok in enumerate(tokens):
        if tok.kind == "num" and not tok.ordinal:
            units.append(_Unit(i, i, tok.text))
        elif tok.kind == "word" and tok.text in HOMOPHONES:
            units.append(_Unit(i, i, "", tok.text))
    units.sort(key=lambda u: u.first)
    out: list[_Unit] = []
    for unit in units:
        before = out[-1] if out else None
        said = _word(tokens, unit.first) if unit.first == unit.last else ""
        follows = before is not None and before.last + 1 == unit.first
        if before is not None and follows and said in _MULTIPLIERS and before.digits.isdigit():
            # "4 thousand"
            out[-1] = _Unit(before.first, unit.last, str(int(before.digits) * int(unit.digits)))
        elif unit.single and _word(tokens, unit.first - 1) in ("double", "triple"):
            times = 2 if _word(tokens, unit.first - 1) == "double" else 3
            out.append(_Unit(unit.first - 1, unit.last, unit.digits * times))
        else:
            out.append(unit)
    return out


def _accept_oh(tokens: list[Token], units: list[_Unit], linked: list[bool], k: int) -> bool:
    """'forty six oh one', 'six one oh.' (a last zero), 'oh four five seven' (0457); not
    'oh, 4521' or 'oh no'."""
    prev = units[k - 1] if linked[k] else None
    nxt = units[k + 1] if k + 1 < len(units) and linked[k + 1] else None
    if prev is None:  # leading: only directly before three digits or more
        run = 0
        while k + run + 1 < len(units) and units[k + run + 1].single:
            if _gap(tokens, units[k + run], units[k + run + 1]) != "":
                break
            run += 1
        return run >= 3
    if nxt is not None:
        return bool(prev.digits) and nxt.single
    after = units[k].last + 1
    at_end = after == len(tokens) or tokens[after].kind in ("brk", "comma")
    return at_end and prev.single and k >= 2 and linked[k - 1] and bool(units[k - 2].digits)


def _accept(tokens: list[Token], units: list[_Unit], linked: list[bool], k: int) -> bool:
    """Is the homophone units[k] a misheard digit? Only inside a digit-by-digit sequence:
    "for five to one" is 4521; "I want to return it", "five to ten minutes", "table for two"
    and "two to three days" have no misheard digits."""
    unit = units[k]
    prev = units[k - 1] if linked[k] else None
    nxt = units[k + 1] if k + 1 < len(units) and linked[k + 1] else None
    if unit.word in ("oh", "o"):
        return _accept_oh(tokens, units, linked, k)
    lo, hi = k, k
    while lo > 0 and linked[lo]:
        lo -= 1
    while hi + 1 < len(units) and linked[hi + 1]:
        hi += 1
    window = units[lo : hi + 1]
    if sum(1 for u in window if u.digits) < 2:
        return False
    if prev and nxt:  # "five to ten", "ten to five": a range or a time; "forty five to one"
        pair = re.fullmatch(r"[2-9][1-9]", prev.digits)
        if not (prev.single or not prev.digits or pair) or not (nxt.single or not nxt.digits):
            return False
    elif prev and _word(tokens, unit.last + 1) in _PREPOSITION_OBJECTS:
        return False  # "four four eight eight for me"
    else:
        first, second = (prev, unit) if prev else (unit, nxt)
        if second is None or _gap(tokens, first, second) != "":
            return False
        if not all(u.single or not u.digits for u in window):
            return False  # "for 4521", "fifty to savings", "4521, for", "for six fifty"
    return sum(len(u.digits) or 1 for u in window) >= 4


def _joins(tokens: list[Token], units: list[_Unit], k: int) -> bool:
    """Whether units[k] and units[k + 1] are one number: adjacent, or across a comma or hyphen
    in a chain of three or more single digits ("4, 5, 2, 1", "4-5-2-1"; not "5-7 days")."""
    a, b = units[k], units[k + 1]
    gap = _gap(tokens, a, b)
    if gap in ("", None):
        return gap == ""
    if not (a.single and b.single):
        return False
    before = k > 0 and units[k - 1].single and _gap(tokens, units[k - 1], a) == gap
    after = k + 2 < len(units) and units[k + 2].single and _gap(tokens, b, units[k + 2]) == gap
    return before or after


def number_runs(text: str, tokens: list[Token] | None = None) -> list[NumberRun]:
    """Every run of numbers in the text, spoken or written, in order."""
    if tokens is None:
        tokens, spoken = _read(text)
    else:
        spoken = _spoken(tokens)
    units = _units(tokens, spoken)
    # linked[k]: units[k] follows units[k - 1] directly or across one comma or hyphen
    linked = [k > 0 and _gap(tokens, units[k - 1], units[k]) is not None for k in range(len(units))]
    for k, unit in enumerate(units):
        if unit.digits:
            continue
        if _accept(tokens, units, linked, k):
            units[k] = _Unit(unit.first, unit.last, str(HOMOPHONES[unit.word]), unit.word)
        else:  # a plain word after all: nothing links across it
            linked[k] = False
            if k + 1 < len(units):
                linked[k + 1] = False
    units = [u for u in units if u.digits]
    groups: list[list[_Unit]] = []
    for k, unit in enumerate(units):
        if k and _joins(tokens, units, k - 1):
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return [
        NumberRun(
            "".join(u.digits.rstrip(".") for u in group),
            tuple(u.digits for u in group),
            tokens[group[0].first].start,
            tokens[group[-1].last].end,
            group[0].first,
            group[-1].last,
        )
        for group in groups
    ]


def spoken_digits(text: str) -> list[str]:
    """Digit strings in a transcript: 'for five to one' -> ['4521'], '$1,249.50' -> ['1249.50']."""
    return [run.digits for run in number_runs(text)]


# --- the text with its numbers as digits -----------------------------------------------------


@dataclass(frozen=True)
class _Plain:
    """The text with spoken numbers written as digits ("at three thirty" -> "at 3 30", "the
    twenty first" -> "the 21st"), and where each of its characters came from."""

    text: str
    starts: list[int]
    ends: list[int]

    def span(self, a: int, b: int) -> tuple[int, int]:
        return self.starts[a], self.ends[b - 1]


@lru_cache(maxsize=512)
def _plain(text: str) -> _Plain:
    tokens, spoken = _read(text)
    numbers = {s: (e, digits) for s, e, digits, _ in spoken}
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, last_end = 0, -1
    while i < len(tokens):
        first = tokens[i]
        if 0 <= last_end < first.start:
            out.append(" ")
            starts.append(last_end)
            ends.append(first.start)
        if i in numbers:
            end, piece = numbers[i]
            start, last_end = first.start, tokens[end - 1].end
            starts += [start] * len(piece)
            ends += [last_end] * len(piece)
            i = end
        else:
            piece, last_end = text[first.start : first.end], first.end
            starts += range(first.start, first.end)
            ends += range(first.start + 1, first.end + 1)
            i += 1
        out.append(piece)
    return _Plain("".join(out), starts, ends)


def _clause_ends(text: str, pos: int, followers: set[str] = _FOLLOWERS) -> bool:
    """Does what follows `pos` end the phrase: nothing, punctuation, or a likely next word?"""
    rest = re.match(r"\s*(\w+|\S)?", text[pos:])
    nxt = rest.group(1) if rest else None
    return nxt is None or not nxt[0].isalnum() or nxt.lower() in followers


def _decimal(digits: str) -> Decimal | None:
    try:
        return Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return None


# --- money -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    value: Decimal
    start: int
    end: int


_NUMBER = r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_CURRENCY = r"(?:dollars?|bucks?|usd|euros?|pounds?|grand)\b"
_AMOUNT = re.compile(
    rf"(?P<sym>[$€£]) ?(?P<a>{_NUMBER})(?: (?P<word>{_CURRENCY}))?"
    rf"|(?P<b>{_NUMBER}) (?P<word2>{_CURRENCY})|(?P<cents>{_NUMBER}) cents?\b",
    re.IGNORECASE,
)
_CENTS = re.compile(r"(?P<and>,? and)? (?P<c>\d{1,2})(?P<unit> cents?\b)?", re.IGNORECASE)


def find_amounts(text: str) -> list[Amount]:
    """Sums of money: '$49', '49.50 dollars', 'forty nine dollars and fifty cents', '50 cents'."""
    plain = _plain(text)
    found: list[Amount] = []
    pos = 0
    while m := _AMOUNT.search(plain.text, pos):
        end = m.end()
        if m.group("cents"):
            value = (_decimal(m.group("cents")) or Decimal(0)) / 100
        else:
            value = _decimal(m.group("a") or m.group("b")) or Decimal(0)
            if (m.group("word") or m.group("word2") or "").lower() == "grand":
                value *= 1000  # "two grand"
            more = _CENTS.match(plain.text, end)
            named = bool(m.group("word") or m.group("word2"))
            if more and (more.group("unit") or (named and not more.group("and"))):
                value += Decimal(more.group("c")) / 100  # "49 dollars 50", "$49 and 50 cents"
                end = more.end()
        found.append(Amount(value, *plain.span(m.start(), end)))
        pos = end
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
        elif self.meridiem is None and hour < 12:
            evening = self.part_of_day in ("afternoon", "evening")
            hour += 12 if evening or (self.part_of_day is None and hour < default_pm_below) else 0
        return time(hour % 24, self.minute)


_MERIDIEM = r"(?: ?(?P<mer>[ap]\.? ?m\b\.?|o'?clock\b|o clock\b))?"
_PART = (
    r"(?:(?: in the| this| at the| at| tomorrow)? "
    r"(?P<part>morning|afternoon|lunchtime|evening|tonight|night)\b)?"
)
_CLOCK = re.compile(
    rf"(?:\b(?P<cue>{_TIME_CUES}) )?(?<![\d.,:/$€£])(?P<h>\d{{1,2}})(?![\d/]|(?:st|nd|rd|th)\b)"
    r"(?::(?P<colon>\d\d)|\.(?P<dot>\d\d)| (?P<sep>[0-5]\d)\b| oh (?P<oh>\d)\b)?(?![\d:]|\.\d)"
    rf"(?P<ish> ?-?ish\b)?{_MERIDIEM}{_PART}",
    re.IGNORECASE,
)
_PHRASE = re.compile(
    rf"\b(?P<q>half|quarter) (?:(?P<rel>past|after|to) )?(?P<h>\d{{1,2}})\b{_MERIDIEM}{_PART}"
    r"|\b(?P<noon>noon|midday|midnight)\b",
    re.IGNORECASE,
)


def _time_at(plain: _Plain, m: re.Match[str], hour: int, minute: int) -> TimeMention | None:
    meridiem = (m.group("mer") or "").lower()[:1]
    meridiem = {"a": "am", "p": "pm"}.get(meridiem)
    part = PARTS_OF_DAY.get((m.group("part") or "").lower())
    if meridiem is None and part:
        meridiem = "am" if part == "morning" else "pm" if hour < 12 else None
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return TimeMention(hour, minute, meridiem, part, *plain.span(m.start(), m.end()))


def _phrase_time(plain: _Plain, m: re.Match[str]) -> TimeMention | None:
    """'half past two', 'quarter to five', British 'half nine' (9:30), 'noon', 'midnight'."""
    if m.group("noon"):
        meridiem = "am" if m.group("noon").lower() == "midnight" else "pm"
        return TimeMention(12, 0, meridiem, None, *plain.span(m.start(), m.end()))
    hour, rel, quarter = int(m.group("h")), (m.group("rel") or "").lower(), m.group("q").lower()
    if not 1 <= hour <= 12:
        return None
    if not rel and (quarter == "quarter" or not _clause_ends(plain.text, m.end())):
        return None  # British "half nine" (9:30) ends where a time can: "half nine?"
    minute = 30 if quarter == "half" else 15
    if rel == "to":
        hour, minute = (hour - 1) or 12, 45
    return _time_at(plain, m, hour, minute)


def _clock_time(plain: _Plain, m: re.Match[str], bare: bool) -> TimeMention | None:
    """'3 pm', 'at 3:30', '14:30', 'at three thirty', 'at 2 oh 5', 'three-ish', 'at 8 tonight';
    with `bare`, also a number alone where a time can end ('ten thirty?', 'like nine')."""
    hour = int(m.group("h"))
    colon = m.group("colon") is not None
    said = colon or m.group("mer") or m.group("part") or m.group("ish")
    cued = m.group("cue") and _clause_ends(plain.text, m.end())
    # a number alone where a time is wanted; not in "4 5 2 1", not "the fasting one"
    alone = bare and not re.search(r"\d\W*$", plain.text[: m.start()])
    alone = alone and plain.text[m.start() : m.end()] != "1"
    if not (said or cued or (alone and _clause_ends(plain.text, m.end(), _BARE_FOLLOWERS))):
        return None
    if (not colon and not m.group("mer") and hour > 12) or (hour == 0 and not colon):
        return None
    minutes = m.group("colon") or m.group("dot") or m.group("sep") or m.group("oh") or "0"
    return _time_at(plain, m, hour, int(minutes))


def find_times(text: str, *, bare: bool = False) -> list[TimeMention]:
    """Clock times ('3 pm', 'at 3:30', 'half past two', 'noon') and bare parts of the day.

    `bare`: where a time is expected (the agent asked for one), a number alone is one too.
    """
    plain = _plain(text)
    found: list[TimeMention] = []
    taken: list[tuple[int, int]] = []
    readers = ((_PHRASE, _phrase_time), (_CLOCK, lambda p, m: _clock_time(p, m, bare)))
    for pattern, read in readers:
        for m in pattern.finditer(plain.text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            mention = read(plain, m)
            if mention:
                found.append(mention)
                taken.append(m.span())
    for m in re.finditer(
        r"\b(?:morning|afternoon|lunchtime|evening|tonight|night)\b", plain.text, re.I
    ):
        if not any(a <= m.start() < b for a, b in taken):
            part = PARTS_OF_DAY[m.group().lower()]
            found.append(TimeMention(None, 0, None, part, *plain.span(m.start(), m.end())))
    return sorted(found, key=lambda mention: mention.start)


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


_MONTH = (
    r"(?P<mon>(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\b\.?)"
)
_YEAR = r"(?:,? (?P<year>(?:19|20)\d\d)\b)?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?\b"
_MONTH_FIRST = re.compile(rf"{_MONTH} (?:the )?{_DAY}{_YEAR}", re.I)
_DAY_FIRST = re.compile(rf"(?:the )?{_DAY}(?: of)? {_MONTH}{_YEAR}", re.I)
_NUMERIC = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b(?!-)"
    r"|(?P<m2>\d{1,2})/(?P<d2>\d{1,2})(?:/(?P<y2>\d{4}|\d\d))?\b(?!/)"
)
_DAY_ALONE = re.compile(r"(?P<the>(?:the|on) )?(?P<day>\d{1,2})(?:st|nd|rd|th)\b", re.I)
_MONTH_ALONE = re.compile(
    r"(?:january|february|april|june|july|august|september|october|november|december)\b", re.I
)
_WEEKDAY = re.compile(
    r"(?:(?P<q>next|this|coming|last) )?(?:(?P<wd>monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)s?\b\.?|(?-i:(?P<abbr>Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun))\b"
    r"(?=\.|,| (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))\.?",
    re.I,
)
_RELATIVE = re.compile(
    r"(?:the )?(?P<dat>day (?:after tomorrow|before yesterday))"
    r"|(?P<word>today|tonight|tomorrow|tmrw|yesterday)\b"
    r"|(?P<q>next|this|last|coming) (?P<period>week|month|weekend|year)\b"
    r"|end of (?:the|this|next) (?P<end>week|month|year)\b|(?P<weekend>weekend)\b"
    r"|(?:in|within) (?P<n>\d+|an?) (?P<unit>day|week)s?\b"
    r"|(?P<n2>\d+|an?|a couple(?: of)?) (?P<unit2>day|week)s? ago\b",
    re.I,
)
_ABBREVIATIONS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3}
_ABBREVIATIONS |= {"fri": 4, "sat": 5, "sun": 6}


def _month(name: str) -> int:
    name = name.lower().rstrip(".")
    return next(n for n, full in enumerate(MONTHS, 1) if full.startswith(name[:3]))


def _day_parts(plain: _Plain, text: str, pos: int) -> tuple[int | None, ...] | None:
    """(month, day, year, end) of a date with a day at `pos`, or None."""
    year: int | None
    if m := _NUMERIC.match(plain.text, pos):
        if m.group("y"):
            year, month, day = int(m.group("y")), int(m.group("m")), int(m.group("d"))
        else:
            month, day = int(m.group("m2")), int(m.group("d2"))
            year = int(m.group("y2")) if m.group("y2") else None
            year = year + 2000 if year is not None and year < 100 else year
        if 1 <= month <= 12 and 1 <= day <= 31:
            return month, day, year, m.end()
        return None
    for pattern in (_MONTH_FIRST, _DAY_FIRST):
        if (m := pattern.match(plain.text, pos)) and 1 <= int(m.group("day")) <= 31:
            year = int(m.group("year")) if m.group("year") else None
            return _month(m.group("mon")), int(m.group("day")), year, m.end()
    m = _DAY_ALONE.match(plain.text, pos)
    if m and 1 <= int(m.group("day")) <= 31 and _clause_ends(plain.text, m.end()):
        start, end = plain.span(m.start("day"), m.end())
        written = any(ch.isdigit() for ch in text[start:end])
        if m.group("the") or written:  # "first, let me check": a spoken ordinal needs "the"
            return None, int(m.group("day")), None, m.end()
    return None


def _relative(m: re.Match[str]) -> str:
    if m.group("dat"):
        return m.group("dat").lower()
    if m.group("word"):
        word = m.group("word").lower()
        return {"tonight": "today", "tmrw": "tomorrow"}.get(word, word)
    if m.group("period"):
        return f"{m.group('q').lower()} {m.group('period').lower()}"
    if m.group("end"):
        return f"end of {m.group('end').lower()}"
    if m.group("weekend"):
        return "weekend"
    count = m.group("n") or m.group("n2")
    count = str(int(count)) if count.isdigit() else "2" if "couple" in count else "1"
    if m.group("n"):
        return f"in {count} {m.group('unit').lower()}s"
    return f"{count} {m.group('unit2').lower()}s ago"


def _date_at(plain: _Plain, text: str, pos: int) -> tuple[DateMention, int] | None:
    """The date phrase that starts at `pos` and where it ends."""

    def mention(*parts: int | str | None, end: int) -> tuple[DateMention, int]:
        return DateMention(*parts, *plain.span(pos, end)), end  # type: ignore[arg-type, call-arg]

    if m := _WEEKDAY.match(plain.text, pos):
        name = (m.group("wd") or m.group("abbr")).lower()
        weekday = WEEKDAYS.index(name) if name in WEEKDAYS else _ABBREVIATIONS[name]
        relative = m.group("q").lower() if m.group("q") else None
        after = re.match(r",? ?", plain.text[m.end() :]).end() + m.end()  # type: ignore[union-attr]
        rest = _day_parts(plain, text, after)
        if rest:
            month, day, year, end = rest
            return mention(weekday, month, day, year, relative, end=end)  # type: ignore[arg-type]
        if week := re.match(r" (next|this) week\b", plain.text[m.end() :], re.I):
            return mention(
                weekday, None, None, None, f"{week.group(1).lower()} week", end=m.end() + week.end()
            )
        return mention(weekday, None, None, None, relative, end=m.end())
    if rest := _day_parts(plain, text, pos):
        month, day, year, end = rest
        return mention(None, month, day, year, None, end=end)  # type: ignore[arg-type]
    if m := _RELATIVE.match(plain.text, pos):
        return mention(None, None, None, None, _relative(m), end=m.end())
    if m := _MONTH_ALONE.match(plain.text, pos):
        return mention(None, _month(m.group()), None, None, None, end=m.end())
    return None


def find_dates(text: str) -> list[DateMention]:
    """Dates said or written in text, with their spans, left to right."""
    plain = _plain(text)
    found: list[DateMention] = []
    done = 0
    for word in re.finditer(r"\b\w", plain.text):
        if word.start() < done:
            continue
        hit = _date_at(plain, text, word.start())
        if hit:
            found.append(hit[0])
            done = hit[1]
    return found


# --- a date phrase to a calendar day ---------------------------------------------------------


def _dateparser(phrase: str, today: date, prefer: str) -> date | None:
    settings = {
        "RELATIVE_BASE": datetime.combine(today, time(12)),
        "PREFER_DATES_FROM": prefer,
        "DATE_ORDER": "MDY",
        "PARSERS": ["relative-time", "absolute-time"],
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    found = dateparser.parse(phrase, languages=["en"], settings=settings)
    return found.date() if found else None


def _day_of_month(today: date, day: int, weekday: int | None, step: int) -> date | None:
    """'the 3rd' / 'Friday the 5th': the nearest such day from today, ahead (step 1) or back."""
    for offset in range(13):
        months = today.year * 12 + today.month - 1 + offset * step
        try:
            found = date(months // 12, months % 12 + 1, day)
        except ValueError:
            continue
        if (found - today).days * step >= 0 and weekday in (None, found.weekday()):
            return found
    return None


def resolve_date(mention: DateMention, today: date, prefer: str = "future") -> date | None:
    """The calendar day a located date means, seen from `today`.

    `prefer` ("past" or "future") is the tense the caller used, for phrases that do not carry it
    ("the 9th of October", "Friday"). dateparser resolves month-day phrases, weekdays and
    relative days ("two weeks ago", "in 3 days"); what it gets wrong for callers is done here:
    "next Tuesday" is Tuesday of next week (said on a Monday: 8 days ahead), and a day of the
    month alone ("the 15th", "Friday the 5th"). Ranges ("next week", "this weekend"): None.
    """
    relative = mention.relative or ""
    step = -1 if prefer == "past" else 1
    if mention.month and mention.day:
        phrase = f"{MONTHS[mention.month - 1]} {mention.day} {mention.year or ''}"
        # dateparser puts today's own date a year ahead when asked for the future.
        base = today - timedelta(days=1) if prefer == "future" else today
        return _dateparser(phrase.strip(), base, prefer)
    if mention.day:
        return _day_of_month(today, mention.day, mention.weekday, step)
    if mention.weekday is not None:
        if relative in ("next", "next week"):
            return today + timedelta(days=7 - today.weekday() + mention.weekday)
        if relative == "this week":
            return today + timedelta(days=mention.weekday - today.weekday())
        qualifier = "last " if relative == "last" else "this " if relative == "this" else ""
        return _dateparser(qualifier + WEEKDAYS[mention.weekday], today, prefer)
    if relative in ("today", "tomorrow", "yesterday", "day after tomorrow") or relative.endswith(
        ("days", "weeks", "ago")
    ):
        return _dateparser(relative, today, prefer)
    return None
