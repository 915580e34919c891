"""The fact guard: replies may say only what the facts and the allowed text support."""

from __future__ import annotations

import calendar
from datetime import date
from pathlib import Path

import pytest

from voice.dialogue.fact_guard import build_fallback_reply, check_reply
from voice.dialogue.numbers import say_ordinal

ORDER = {
    "order_number": "4521",
    "status": "shipped",
    "eta": "Thursday, December 3",
    "carrier": "UPS",
    "refund": "$49.00",
}
CARD = {"card": "1234", "card_status": "blocked", "replacement": "within 5 to 7 business days"}
BALANCE = {"checking account ending 9876": "$1,249.50", "savings account ending 5555": "$310.00"}
APPOINTMENT = {
    "kind": "cleaning",
    "clinic": "Acme Dental Riverside",
    "doctor": "Dr. Patel",
    "date": "Tuesday, December 8",
    "time": "2:30 PM",
    "status": "booked",
}
KNOWLEDGE = Path(__file__).resolve().parent.parent / "data" / "knowledge" / "returns.md"
HOURS = Path(__file__).resolve().parent.parent / "data" / "knowledge" / "opening-hours.md"


def knowledge(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


# --- replies that must pass ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "Your order 4521 has shipped with UPS and should arrive Thursday, December 3.",
        "Order four five two one shipped. It's due on Thursday, December third.",
        "It's arriving on Dec 3rd.",
        "It should be there on 12/3.",
        "It's expected on Thursday the 3rd.",
        "It arrives Thursday.",
        "It's due in December.",
        "You'll get a refund of forty-nine dollars.",
        "Your refund is $49.",
        "Your refund of $49.00 is on its way back to you.",
        "One moment while I check. I have two options for you.",
        "Sure, let me look that up for you.",
        "Your package is with UPS and it has not been delivered yet.",
        "Would you like me to have it cancelled?",
        "Once an order has been delivered, you can return it.",
        "Let me check whether it has been delivered.",
        "Your order of 3 items has shipped.",
        "It'll arrive on Thursday afternoon.",
        "Is there anything else I can help you with today?",
        "Thanks for calling, have a good weekend!",
        "Your parcel is in transit with UPS, arriving Thursday, December 3.",
    ],
)
def test_order_replies_pass(reply):
    verdict = check_reply(reply, ORDER)
    assert verdict.ok, verdict.problems


# --- replies that must fail ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "It will arrive on Friday.",
        "It arrives Friday, December 3.",
        "It will arrive on December 5th.",
        "It's coming next week on the 5th.",
        "It should be there on the 5th.",
        "It'll arrive on 12/5.",
        "It will arrive on Dec. 4.",
        "It's arriving tomorrow.",
        "It'll be there in two days.",
        "Your order will arrive by the weekend.",
        "It's due Thursday, November 3.",
        "It's due on Thursday, December 3, 2027.",
        "It should be there by 5 pm on Thursday.",
        "Your order 4522 has shipped.",
        "Your order four five two two is on its way.",
        "Your order has been delivered.",
        "It's out for delivery.",
        "Your refund of $59.00 is on its way.",
        "You'll get fifty dollars back.",
        "Your refund of forty-nine dollars and fifty cents is confirmed.",
        "Your order was cancelled.",
        "Refunds take 10 business days.",
        "You'll get a 10% discount.",
        "Your tracking number is 1Z999AA1.",
        "It arrives on the twenty-fifth.",
        "It arrives on Wednesday.",
        "Delivery is in January.",
        "It'll arrive over the weekend.",
        "It should be there in a couple of days.",
        "It arrives within a few business days.",
        "It arrives in a week.",
        "It arrives on the fifth of next month.",
        "Your order will arrive Fri.",
        "It will be delivered by 8 pm Thursday.",
        "Yes, it's been dispatched and is out for delivery now.",
        "After checking, I can see your order has been delivered.",
        "I checked and it wasn't shipped.",
    ],
)
def test_order_hallucinations_fail(reply):
    verdict = check_reply(reply, ORDER)
    assert not verdict.ok, reply
    assert verdict.problems


@pytest.mark.parametrize(
    "wrong_day",
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Friday",
        "Saturday",
        "Sunday",
        "December 1st",
        "December 2nd",
        "December 4th",
        "the 4th",
        "the second",
        "12/4",
        "Dec 30",
        "Friday the 3rd",
        "next Friday",
        "this Friday",
        "the day after tomorrow",
        "next week",
        "Thursday next week",
        "Thursday, December 10",
        "December 3rd, 2025",
        "November 3rd",
        "the 13th",
    ],
)
def test_a_hallucinated_date_never_passes(wrong_day):
    assert not check_reply(f"Your order will arrive {wrong_day}.", ORDER).ok


# --- allowed text: the caller's words and knowledge ------------------------------------------


def test_knowledge_numbers_pass_when_the_knowledge_says_them():
    passage = "Once the item reaches our warehouse the refund is issued within 24 hours."
    assert check_reply("Refunds are issued within 24 hours of the item arriving.", {}, passage).ok
    assert not check_reply("Refunds are issued within 24 hours.", {}).ok
    assert not check_reply("Refunds are issued within 48 hours.", {}, passage).ok


def test_return_policy_passage():
    text = knowledge(KNOWLEDGE)
    ok = (
        "You can return most items within 30 days of delivery, and the refund goes back to "
        "your card within 5 business days after we check it."
    )
    assert check_reply(ok, {}, text).ok
    assert not check_reply("You can return items within 60 days.", {}, text).ok
    assert not check_reply("The refund takes 2 weeks.", {}, text).ok


def test_opening_hours_passage():
    text = knowledge(HOURS)
    assert check_reply(
        "The Riverside clinic is open Monday to Friday from 9 AM to 5 PM.", {}, text
    ).ok
    assert check_reply("Yes, we're open on Wednesday until 5 PM.", {}, text).ok
    assert not check_reply("The Riverside clinic opens at 7:30 AM.", {}, text).ok


def test_caller_words_are_allowed():
    caller = "I ordered it on November 20th and paid $89.99"
    reply = "I see you ordered it on November 20th and paid $89.99."
    assert check_reply(reply, {}, caller).ok
    assert not check_reply(reply, {}).ok


def test_the_caller_asking_does_not_make_it_true():
    facts = {"order_number": "4521", "status": "processing"}
    reply = "Yes, your order has shipped."
    assert not check_reply(reply, facts, "has my order shipped yet?").ok
    assert check_reply(
        "No, it hasn't shipped yet; it's still being processed.", facts, "has my order shipped yet?"
    ).ok


def test_other_statuses_may_echo_the_caller():
    assert check_reply(
        "I'm sorry to hear about the item you returned.", ORDER, "I returned the item two weeks ago"
    ).ok
    assert not check_reply(
        "The item you returned has been refunded.", ORDER, "I returned the item two weeks ago"
    ).ok


# --- the other businesses --------------------------------------------------------------------


def test_card_replies():
    assert check_reply(
        "Your card ending 1234 is now blocked. A new one arrives within 5 to 7 business days.", CARD
    ).ok
    assert not check_reply("Your card ending 1243 is now blocked.", CARD).ok
    assert not check_reply("Your card is active again.", CARD).ok
    assert not check_reply("A new card arrives within 3 business days.", CARD).ok


def test_balance_replies():
    assert check_reply("Your checking account ending 9876 has $1,249.50.", BALANCE).ok
    assert check_reply(
        "You have one thousand two hundred forty-nine dollars and fifty cents in checking.", BALANCE
    ).ok
    assert not check_reply("You have $1,294.50 in checking.", BALANCE).ok
    assert not check_reply("You have about twelve hundred dollars.", BALANCE).ok
    assert not check_reply("Your account ending 6789 has $310.", BALANCE).ok


def test_appointment_replies():
    assert check_reply(
        "You're booked for a cleaning with Dr. Patel on Tuesday, December 8 at 2:30 PM.",
        APPOINTMENT,
    ).ok
    assert check_reply("See you on Tuesday the 8th at half past two.", APPOINTMENT).ok
    assert check_reply("That's December eighth at two thirty p.m.", APPOINTMENT).ok
    assert not check_reply("You're booked for Tuesday at 3 PM.", APPOINTMENT).ok
    assert not check_reply("You're booked for Tuesday at 2:30 AM.", APPOINTMENT).ok
    assert not check_reply("I've moved your appointment to Tuesday.", APPOINTMENT).ok
    assert not check_reply("You're booked for Wednesday, December 8.", APPOINTMENT).ok


def test_weekday_needs_a_year_or_today():
    facts = {"eta": "December 3"}
    assert check_reply("It arrives December 3.", facts).ok
    assert not check_reply("It arrives Thursday, December 3.", facts).ok  # unverifiable
    today = date(2026, 11, 30)
    assert check_reply("It arrives Thursday, December 3.", facts, today=today).ok
    assert not check_reply("It arrives Friday, December 3.", facts, today=today).ok


def test_iso_facts_support_spoken_dates():
    facts = {"eta": "2026-12-03", "time": "14:30"}
    assert check_reply("It arrives Thursday, December third, at two thirty p.m.", facts).ok
    assert not check_reply("It arrives Friday, December 4th.", facts).ok


def test_problems_name_the_claim():
    verdict = check_reply("It will arrive on Friday and cost $12.", ORDER)
    assert any("Friday" in p for p in verdict.problems)
    assert any("$12" in p for p in verdict.problems)


# --- the fallback ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "facts",
    [ORDER, CARD, BALANCE, APPOINTMENT, {"eta": "2026-12-03", "time": "14:30", "total": "89.99"}],
)
def test_fallback_passes_its_own_guard(facts):
    reply = build_fallback_reply(facts)
    assert check_reply(reply, facts).ok, (reply, check_reply(reply, facts).problems)


def test_fallback_is_spoken():
    reply = build_fallback_reply(ORDER)
    assert "four five two one" in reply and "forty-nine dollars" in reply
    assert "Thursday, December third" in reply and "4521" not in reply


def test_fallback_uses_a_message_that_passes():
    # A prepared message that states the facts is kept; "I've blocked ..." would not be:
    # without the prepared reply as allowed text the guard reads it as a promise.
    message = "Your card ending 1234 is blocked; it can't be used from now on."
    assert build_fallback_reply(CARD, message) == message
    invented = "I've blocked your card ending 1234; a new one comes tomorrow."
    assert build_fallback_reply(CARD, invented) != invented


def test_fallback_without_facts():
    assert build_fallback_reply({}) and check_reply(build_fallback_reply({}), {}).ok


# --- a sweep: every wrong day, written many ways, fails; the right one passes ------------------


def _suffix(day: int) -> str:
    return {1: "st", 2: "nd", 3: "rd"}.get(day if day < 20 else day % 10, "th")


def _phrasings(month: int, day: int) -> list[str]:
    name = calendar.month_name[month]
    short = calendar.month_abbr[month]
    return [
        f"{name} {day}",
        f"{short} {day}{_suffix(day)}",
        f"{month}/{day}",
        f"{name} {say_ordinal(day)}",
        f"the {say_ordinal(day)} of {name}",
        f"{day} {name}",
        f"{short}. {day}",
    ]


def test_date_sweep():
    bad, wrongly_refused = [], []
    for month in range(1, 13):
        for day in range(1, 32):
            for weekday in (None, "Thursday", "Friday"):
                for phrase in _phrasings(month, day):
                    said = f"{weekday}, {phrase}" if weekday else phrase
                    ok = check_reply(f"It will arrive on {said}.", ORDER).ok
                    right = (month, day) == (12, 3) and weekday in (None, "Thursday")
                    if ok and not right:
                        bad.append(said)
                    if right and not ok:
                        wrongly_refused.append(said)
    assert bad == [] and wrongly_refused == []
