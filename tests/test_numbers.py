"""Reading numbers, money, dates and times out of transcripts, and writing them for speech."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from voice.dialogue.numbers import (
    find_dates,
    find_times,
    parse_amount,
    say_date,
    say_digits,
    say_money,
    say_number,
    say_time,
    spoken_amounts,
    spoken_digits,
)


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4521", "four five two one"),
        ("0199", "zero one nine nine"),
        ("1Z99", "one Z nine nine"),
    ],
)
def test_say_digits(value, expected):
    assert say_digits(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$1,249.50", "one thousand two hundred forty-nine dollars and fifty cents"),
        ("$49.00", "forty-nine dollars"),
        (Decimal("1"), "one dollar"),
        (0.5, "fifty cents"),
        ("$0.01", "one cent"),
        (100, "one hundred dollars"),
        ("-20", "minus twenty dollars"),
    ],
)
def test_say_money(value, expected):
    assert say_money(value) == expected


def test_say_number_is_american():
    assert say_number(1249) == "one thousand two hundred forty-nine"
    assert say_number(105) == "one hundred five"


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("2026-12-03", {}, "Thursday, December third"),
        (date(2026, 3, 21), {}, "Saturday, March twenty-first"),
        (datetime(2026, 12, 3, 9, 0), {"weekday": False}, "December third"),
        ("2026-12-03", {"year": True}, "Thursday, December third, twenty twenty-six"),
    ],
)
def test_say_date(value, kwargs, expected):
    assert say_date(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("14:30", "two thirty p.m."),
        ("14:00", "two p.m."),
        ("09:05", "nine oh five a.m."),
        ("12:00", "noon"),
        ("00:00", "midnight"),
        ("00:30", "twelve thirty a.m."),
        ("9:30 AM", "nine thirty a.m."),
        (time(18, 45), "six forty-five p.m."),
    ],
)
def test_say_time(value, expected):
    assert say_time(value) == expected


@pytest.mark.parametrize("value", ["4521", "90210", "1000", "7"])
def test_said_digits_read_back(value):
    assert spoken_digits(say_digits(value)) == [value]


@pytest.mark.parametrize("value", ["49.00", "1249.50", "0.75", "1000000", "12.05"])
def test_said_money_reads_back(value):
    assert spoken_amounts(say_money(value)) == [Decimal(value)]


def test_said_dates_read_back():
    (mention,) = find_dates(say_date("2026-12-03"))
    assert (mention.weekday, mention.month, mention.day) == (3, 12, 3)
