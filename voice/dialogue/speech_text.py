"""Rewrite a reply the way a person says it on the phone, just before it is synthesised.

Stored transcripts keep digits ("order 4521"); the caller hears "order four five two one",
"two thousand three hundred forty-one dollars and seventeen cents", "December first".
"""

from __future__ import annotations

import re
from datetime import time

from voice.dialogue.saying import money_words as say_money
from voice.dialogue.saying import say_digits, say_ordinal
from voice.dialogue.saying import time_words as say_time

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONEY = re.compile(r"\$(\d[\d,]*(?:\.\d{2})?)")
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\s*([AaPp])\.?\s*[Mm]\.?(?![a-z])")
_DATE = re.compile(rf"\b({_MONTHS}) (\d{{1,2}})(?:st|nd|rd|th)?\b")
_IDENTIFIER = re.compile(r"(?<![\d.,])\d{3,}(?![\d.,]\d)")  # order, card and account numbers


def for_speech(text: str) -> str:
    text = _MONEY.sub(lambda m: say_money(m.group(1).replace(",", "")), text)
    text = _CLOCK.sub(_clock, text)
    text = _DATE.sub(lambda m: f"{m.group(1)} {say_ordinal(int(m.group(2)))}", text)
    return _IDENTIFIER.sub(_identifier, text)


def _identifier(match: re.Match[str]) -> str:
    digits = match.group(0)
    before = match.string[max(0, match.start() - 12) : match.start()].lower()
    is_year = len(digits) == 4 and digits[:2] in ("19", "20")
    if is_year and not re.search(r"(order|ending|number|card|account|or)\W*$", before):
        return digits  # the voice reads years well
    return say_digits(digits)


def _clock(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)) % 12, int(match.group(2))
    if match.group(3).lower() == "p":
        hour += 12
    return say_time(time(hour, minute))
