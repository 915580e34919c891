"""Saying values aloud: the written forms every reply uses, and the words the voice reads."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from voice.business.service import money, spoken_date, spoken_time, to_cents
from voice.dialogue.saying import (
    date_words,
    money_words,
    say_count,
    say_date,
    say_digits,
    say_list,
    say_money,
    say_number,
    say_ordinal,
    say_time,
    say_when,
    say_year,
    time_words,
)
from voice.dialogue.speech_text import for_speech

# --- what a reply writes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("2341.17"), "USD", "$2,341.17"),
        ("15200.00", "USD", "$15,200.00"),
        (49, "USD", "$49.00"),
        (0.5, "USD", "$0.50"),
        ("-20", "USD", "-$20.00"),
        (Decimal("1045.32"), "EUR", "1,045.32 EUR"),
    ],
)
def test_say_money(amount, currency, expected):
    assert say_money(amount, currency) == expected


@pytest.mark.parametrize(
    "amount", ["0", "0.01", "9.99", "49", "612.48", "2341.17", "22410.9", "1000000", "-3.5"]
)
@pytest.mark.parametrize("currency", ["USD", "GBP"])
def test_say_money_is_what_the_business_layer_writes(amount, currency):
    assert say_money(Decimal(amount), currency) == money(to_cents(amount), currency)


@pytest.mark.parametrize(
    "day", [date(2026, 12, 9), date(2026, 12, 3), date(2027, 1, 1), datetime(2026, 2, 28, 9, 0)]
)
def test_say_date_is_what_the_business_layer_writes(day):
    assert say_date(day) == spoken_date(day)


def test_say_date():
    assert say_date(date(2026, 12, 9)) == "Wednesday, December 9"
    assert say_date("2026-12-03") == "Thursday, December 3"
    assert say_date(date(2026, 12, 9), year=True) == "Wednesday, December 9, 2026"


@pytest.mark.parametrize(
    "moment", [time(9, 30), time(0, 0), time(12, 0), time(12, 5), time(23, 59), time(14, 0)]
)
def test_say_time_is_what_the_business_layer_writes(moment):
    assert say_time(moment) == spoken_time(moment)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (time(9, 30), "9:30 AM"),
        (time(14, 0), "2:00 PM"),
        (time(0, 15), "12:15 AM"),
        (datetime(2026, 12, 9, 12, 0), "12:00 PM"),
        ("14:30", "2:30 PM"),
        ("9:30 a.m.", "9:30 AM"),
        ("2 PM", "2:00 PM"),
    ],
)
def test_say_time(value, expected):
    assert say_time(value) == expected


def test_say_when():
    assert say_when(datetime(2026, 12, 9, 9, 30)) == "Wednesday, December 9 at 9:30 AM"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], ""),
        (["the lamp"], "the lamp"),
        (["checking", "savings"], "checking and savings"),
        (["9:30 AM", "10:30 AM", "2:00 PM"], "9:30 AM, 10:30 AM and 2:00 PM"),
    ],
)
def test_say_list(items, expected):
    assert say_list(items) == expected


def test_say_list_with_or():
    assert say_list(["Tuesday", "Thursday"], "or") == "Tuesday or Thursday"


@pytest.mark.parametrize(
    ("n", "noun", "plural", "expected"),
    [
        (0, "order", None, "no orders"),
        (1, "order", None, "one order"),
        (2, "appointment", None, "two appointments"),
        (3, "check-up", None, "three check-ups"),
        (2, "pair of boxes", "pairs of boxes", "two pairs of boxes"),
        (4, "delivery", None, "four deliveries"),
        (2, "box", None, "two boxes"),
        (12, "order", None, "12 orders"),
        (1500, "point", None, "1,500 points"),
    ],
)
def test_say_count(n, noun, plural, expected):
    assert say_count(n, noun, plural) == expected


# --- what the voice reads --------------------------------------------------------------------


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
def test_money_words(value, expected):
    assert money_words(value) == expected


def test_numbers_are_said_the_american_way():
    assert say_number(1249) == "one thousand two hundred forty-nine"
    assert say_number(105) == "one hundred five"
    assert say_ordinal(21) == "twenty-first"
    assert say_year(2026) == "twenty twenty-six"


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("2026-12-03", {}, "Thursday, December third"),
        (date(2026, 3, 21), {}, "Saturday, March twenty-first"),
        (datetime(2026, 12, 3, 9, 0), {"weekday": False}, "December third"),
        ("2026-12-03", {"year": True}, "Thursday, December third, twenty twenty-six"),
    ],
)
def test_date_words(value, kwargs, expected):
    assert date_words(value, **kwargs) == expected


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
def test_time_words(value, expected):
    assert time_words(value) == expected


def test_a_written_reply_is_read_the_way_it_is_written():
    """speech_text.for_speech turns what the say_* functions write into the words above."""
    reply = f"It comes {say_date(date(2026, 12, 9))} at {say_time(time(9, 30))}: {say_money(49)}."
    spoken = "It comes Wednesday, December ninth at nine thirty a.m.: forty-nine dollars."
    assert for_speech(reply) == spoken
