"""Reading numbers, money, dates and times out of transcripts (saying them: test_saying.py)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest

from voice.dialogue.numbers import (
    find_dates,
    find_times,
    parse_amount,
    resolve_date,
    spoken_amounts,
    spoken_digits,
)
from voice.dialogue.saying import date_words, money_words, say_digits

TODAY = date(2026, 12, 7)  # a Monday, the day the sample business is pinned to


@pytest.mark.parametrize(
    "text",
    [
        "four five two one",
        "forty five twenty one",
        "for five to one",
        "4 5 2 1",
        "4521",
        "45 21",
        "number four thousand five hundred twenty one",
        "Four, five, two, one.",
        "4-5-2-1",
        "#4521",
        "order number for five to one",
        "four five too won",
        "Yeah it's, uh, four five two one.",
        "forty-five twenty-one",
        "four five two one?",
    ],
)
def test_4521_every_way(text):
    assert spoken_digits(text) == ["4521"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want to return it", []),
        ("I need to talk to someone too", []),
        ("table for two", ["2"]),
        ("for five people", ["5"]),
        ("send two hundred to savings", ["200"]),
        ("five to ten minutes", ["5", "10"]),
        ("two to three days", ["2", "3"]),
        ("5-7 business days", ["5", "7"]),
        ("oh, four five two one", ["4521"]),
        ("four oh two one", ["4021"]),
        ("room two oh one", ["201"]),
        ("four ate two one", ["4821"]),
        ("won two three four", ["1234"]),
        ("double five one two", ["5512"]),
        ("nineteen ninety nine", ["1999"]),
        ("two thousand twenty six", ["2026"]),
        ("a hundred and five", ["105"]),
        ("one hundred twenty one", ["121"]),
        ("$1,249.50", ["1249.50"]),
        ("forty nine point five zero", ["49.50"]),
        ("order 4521 and order 4522", ["4521", "4522"]),
        ("it's 4521. Two of them", ["4521", "2"]),
        ("the card ends in 1 2 3 4", ["1234"]),
        ("", []),
        ("I ate two", ["2"]),
        ("can you check order four four eight eight for me", ["4488"]),
        ("send four five two one to my address", ["4521"]),
        ("four five two for", ["4524"]),
        ("oh no", []),
    ],
)
def test_spoken_digits(text, expected):
    assert spoken_digits(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$49", [Decimal("49")]),
        ("$1,249.50", [Decimal("1249.50")]),
        ("49.50 dollars", [Decimal("49.50")]),
        ("forty-nine dollars", [Decimal("49")]),
        ("forty nine dollars and fifty cents", [Decimal("49.50")]),
        ("one thousand two hundred forty-nine dollars and fifty cents", [Decimal("1249.50")]),
        ("fifty cents", [Decimal("0.50")]),
        ("two hundred bucks", [Decimal("200")]),
        ("a hundred dollars", [Decimal("100")]),
        ("$49 and 50 cents", [Decimal("49.50")]),
        ("$20 and $30", [Decimal("20"), Decimal("30")]),
        ("transfer 200 to savings", []),
        ("two options", []),
    ],
)
def test_spoken_amounts(text, expected):
    assert spoken_amounts(text) == expected


def test_parse_amount_takes_a_bare_number():
    assert parse_amount("49.00") == Decimal("49.00")
    assert parse_amount("$1,249.50") == Decimal("1249.50")
    assert parse_amount("nothing here") is None


def _dates(text):
    return [(m.weekday, m.month, m.day, m.year, m.relative) for m in find_dates(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thursday, December 3", [(3, 12, 3, None, None)]),
        ("Dec 3rd", [(None, 12, 3, None, None)]),
        ("Dec. 3", [(None, 12, 3, None, None)]),
        ("12/3", [(None, 12, 3, None, None)]),
        ("12/03/2026", [(None, 12, 3, 2026, None)]),
        ("2026-12-03", [(None, 12, 3, 2026, None)]),
        ("the third of December", [(None, 12, 3, None, None)]),
        ("3 December 2026", [(None, 12, 3, 2026, None)]),
        ("December twenty-third", [(None, 12, 23, None, None)]),
        ("Thursday the 3rd", [(3, None, 3, None, None)]),
        ("next Tuesday", [(1, None, None, None, "next")]),
        ("Tuesday next week", [(1, None, None, None, "next week")]),
        ("tomorrow", [(None, None, None, None, "tomorrow")]),
        ("in two days", [(None, None, None, None, "in 2 days")]),
        (
            "next week on the 5th",
            [(None, None, None, None, "next week"), (None, None, 5, None, None)],
        ),
        ("in December", [(None, 12, None, None, None)]),
        ("May 5", [(None, 5, 5, None, None)]),
        ("you may return it", []),
        ("march on", []),
        ("the fifth floor", []),
        ("first, let me check", []),
        ("24/7", []),
        ("Mon, Dec 7", [(0, 12, 7, None, None)]),
    ],
)
def test_find_dates(text, expected):
    assert _dates(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at 3", time(15, 0)),
        ("3 pm", time(15, 0)),
        ("3pm", time(15, 0)),
        ("at 9", time(9, 0)),
        ("at 3:30", time(15, 30)),
        ("2:30 PM", time(14, 30)),
        ("9:30 a.m.", time(9, 30)),
        ("14:30", time(14, 30)),
        ("half past two", time(14, 30)),
        ("quarter to five", time(16, 45)),
        ("quarter past nine in the morning", time(9, 15)),
        ("noon", time(12, 0)),
        ("at three thirty", time(15, 30)),
        ("at two oh five", time(14, 5)),
        ("three o'clock", time(15, 0)),
        ("at 8 in the evening", time(20, 0)),
    ],
)
def test_find_times(text, expected):
    clocks = [m for m in find_times(text) if m.hour is not None]
    assert len(clocks) == 1 and clocks[0].as_time() == expected


@pytest.mark.parametrize("text", ["at 3 locations", "two options", "for 3 people", "24 hours"])
def test_not_times(text):
    assert [m for m in find_times(text) if m.hour is not None] == []


def test_part_of_day_alone():
    (mention,) = find_times("sometime in the morning")
    assert mention.hour is None and mention.part_of_day == "morning"


@pytest.mark.parametrize("value", ["4521", "90210", "1000", "7"])
def test_said_digits_read_back(value):
    assert spoken_digits(say_digits(value)) == [value]


@pytest.mark.parametrize("value", ["49.00", "1249.50", "0.75", "1000000", "12.05"])
def test_said_money_reads_back(value):
    assert spoken_amounts(money_words(value)) == [Decimal(value)]


def test_said_dates_read_back():
    (mention,) = find_dates(date_words("2026-12-03"))
    assert (mention.weekday, mention.month, mention.day) == (3, 12, 3)


# --- what the library-based reader does better -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Oh four five seven.", ["0457"]),  # a card ending with a leading zero
        ("my card ending oh one two seven", ["0127"]),
        ("Forty six oh one.", ["4601"]),
        ("The order is for six one oh.", ["4610"]),
        ("double seven three three", ["7733"]),
        ("triple four one", ["4441"]),
        ("forty five to one", ["4521"]),
        ("4 thousand", ["4000"]),
        ("ten to five", ["10", "5"]),
        ("twenty to five", ["20", "5"]),
        ("Okay, the twenty-second.", []),  # an ordinal is a date, not the digits 20
        ("It's the one for six fifty.", ["650"]),  # "the one": a pronoun
        ("How do I get to two ten Main Street?", ["210"]),
        ("Can you move it to the right one?", []),
        ("Um, there's a payment of forty-nine ninety-nine to some company.", ["4999"]),
    ],
)
def test_spoken_digits_more(text, expected):
    assert spoken_digits(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Could you send two grand to my brother?", [Decimal("2000")]),
        ("Two hundred and fifty bucks.", [Decimal("250")]),
        ("It was forty-nine dollars fifty.", [Decimal("49.50")]),
    ],
)
def test_spoken_amounts_more(text, expected):
    assert spoken_amounts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I sent it back two weeks ago.", [(None, None, None, None, "2 weeks ago")]),
        ("I bought it a couple of weeks ago.", [(None, None, None, None, "2 weeks ago")]),
        ("I ordered it like a week ago.", [(None, None, None, None, "1 weeks ago")]),
        ("Can I cancel tomorrow's appointment?", [(None, None, None, None, "tomorrow")]),
        ("I need to move Tuesday's vaccination.", [(1, None, None, None, None)]),
        ("Um, the twenty first of May.", [(None, 5, 21, None, None)]),
        ("December the third", [(None, 12, 3, None, None)]),
        ("the day before yesterday", [(None, None, None, None, "day before yesterday")]),
        ("Thursday this week", [(3, None, None, None, "this week")]),
        ("May. 3", [(None, 5, 3, None, None)]),
        ("4521", []),
        ("the one on Monday", [(0, None, None, None, None)]),
    ],
)
def test_find_dates_more(text, expected):
    assert _dates(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Half nine.", time(9, 30)),  # British: half past nine
        ("Can I come at half four?", time(16, 30)),
        ("Three-ish?", time(15, 0)),
        ("around six ish", time(18, 0)),
        ("9:30.", time(9, 30)),
        ("Any time after three.", time(15, 0)),
        ("at 3.30", time(15, 30)),
        ("at midday", time(12, 0)),
    ],
)
def test_find_times_more(text, expected):
    clocks = [m for m in find_times(text) if m.hour is not None]
    assert len(clocks) == 1 and clocks[0].as_time() == expected


@pytest.mark.parametrize(
    ("text", "bare", "expected"),
    [
        ("Ten thirty?", True, [time(10, 30)]),
        ("Ten thirty?", False, []),
        ("Morning, like nine?", True, [time(9, 0)]),
        ("Four five two one.", True, []),  # digits, not a time
        ("The fasting one, early morning.", True, []),
        ("Two of them.", True, []),
    ],
)
def test_bare_times(text, bare, expected):
    clocks = [m for m in find_times(text, bare=bare) if m.hour is not None]
    assert [m.as_time(8) for m in clocks] == expected


@pytest.mark.parametrize(
    ("text", "prefer", "expected"),
    [
        ("the 9th of October", "past", date(2026, 10, 9)),
        ("the 9th of October", "future", date(2027, 10, 9)),
        ("December 7", "future", date(2026, 12, 7)),  # today is not next year
        ("December 8", "past", date(2025, 12, 8)),
        ("the 3rd", "past", date(2026, 12, 3)),
        ("the 3rd", "future", date(2027, 1, 3)),
        ("the 15th", "past", date(2026, 11, 15)),
        ("the 15th", "future", date(2026, 12, 15)),
        ("the 31st", "future", date(2026, 12, 31)),
        ("Thursday the 3rd", "past", date(2026, 12, 3)),
        ("next Tuesday", "future", date(2026, 12, 15)),  # on a Monday: next week's Tuesday
        ("next Tuesday", "past", date(2026, 12, 15)),
        ("this Tuesday", "future", date(2026, 12, 8)),
        ("Tuesday", "future", date(2026, 12, 8)),
        ("Tuesday", "past", date(2026, 12, 1)),
        ("Monday", "future", date(2026, 12, 14)),  # said on a Monday: next Monday
        ("last Friday", "future", date(2026, 12, 4)),
        ("Tuesday next week", "future", date(2026, 12, 15)),
        ("two weeks ago", "future", date(2026, 11, 23)),
        ("in three days", "past", date(2026, 12, 10)),
        ("tomorrow", "past", date(2026, 12, 8)),
        ("yesterday", "future", date(2026, 12, 6)),
        ("the day after tomorrow", "future", date(2026, 12, 9)),
        ("12/3", "past", date(2026, 12, 3)),
        ("3 December 2025", "future", date(2025, 12, 3)),
        ("next week", "future", None),  # a range: no single day
        ("this weekend", "future", None),
    ],
)
def test_resolve_date(text, prefer, expected):
    (mention,) = find_dates(text)
    assert resolve_date(mention, TODAY, prefer) == expected
