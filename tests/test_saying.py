"""Saying values aloud: the written forms every reply uses, and the words the voice reads."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from voice.dialogue.saying import (
    date_words,
    money_words,
    say_cents,
    say_count,
    say_date,
    say_digits,
    say_facts,
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
    ("amount", "usd", "gbp"),
    [
        ("0", "$0.00", "0.00 GBP"),
        ("0.01", "$0.01", "0.01 GBP"),
        ("9.99", "$9.99", "9.99 GBP"),
        ("49", "$49.00", "49.00 GBP"),
        ("612.48", "$612.48", "612.48 GBP"),
        ("2341.17", "$2,341.17", "2,341.17 GBP"),
        ("22410.9", "$22,410.90", "22,410.90 GBP"),
        ("1000000", "$1,000,000.00", "1,000,000.00 GBP"),
        ("-3.5", "-$3.50", "-3.50 GBP"),
    ],
)
def test_say_money_and_cents(amount, usd, gbp):
    assert say_money(Decimal(amount)) == usd and say_money(Decimal(amount), "GBP") == gbp
    cents = int(Decimal(amount) * 100)  # the business layer's integer cents
    assert say_cents(cents) == usd and say_cents(cents, "GBP") == gbp


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 12, 9), "Wednesday, December 9"),
        (date(2026, 12, 3), "Thursday, December 3"),
        (date(2027, 1, 1), "Friday, January 1"),
        (datetime(2026, 2, 28, 9, 0), "Saturday, February 28"),
    ],
)
def test_say_date_of_dates_and_datetimes(day, expected):
    assert say_date(day) == expected


def test_say_date():
    assert say_date(date(2026, 12, 9)) == "Wednesday, December 9"
    assert say_date("2026-12-03") == "Thursday, December 3"
    assert say_date(date(2026, 12, 9), year=True) == "Wednesday, December 9, 2026"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (time(9, 30), "9:30 AM"),
        (time(0, 0), "12:00 AM"),
        (time(12, 0), "12:00 PM"),
        (time(12, 5), "12:05 PM"),
        (time(23, 59), "11:59 PM"),
        (time(14, 0), "2:00 PM"),
    ],
)
def test_say_time_round_the_clock(moment, expected):
    assert say_time(moment) == expected


def test_say_facts_writes_a_business_results_typed_facts():
    facts = {
        "order_number": "4388",
        "return_status": "started",
        "refund_cents": 4900,
        "currency": "USD",
        "return_started_on": date(2026, 3, 4),
        "starts_at": datetime(2026, 3, 10, 14, 0),
        "alternatives": [time(13, 0), time(13, 30)],
        "items": ["Electric Toothbrush", "Lipstick"],
        "eta": None,
    }
    assert say_facts(facts) == {
        "order_number": "4388",
        "return_status": "started",
        "refund": "$49.00",
        "return_started_on": "Wednesday, March 4",
        "starts_at": "Tuesday, March 10 at 2:00 PM",
        "alternatives": "1:00 PM and 1:30 PM",
        "items": "Electric Toothbrush and Lipstick",
    }
    assert say_facts({"balance_cents": 104532, "currency": "EUR"}) == {"balance": "1,045.32 EUR"}


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
