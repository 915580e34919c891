"""Mask what must not be kept in writing: card, account and social security numbers, PINs and
security codes, and callers' full phone numbers.

One function, `mask_value`, masks every string inside an event, a turn or a log line; it is
applied where a call's words are written (the recorder's events, from which the JSONL, the log
line and the stored turns are all made; the log formatter for every other line) and again
where the review pages read recordings made before masking existed. The audio stays as
recorded (access-controlled).

What is masked, written or spoken ("four one one one ..."):

* card numbers, however grouped (`4111 1111 1111 1234`, `4111-1111-...`, `4111.1111...`):
  `[number ending 1234]`;
* any other run of 7 or more digits (account numbers, long references): `[number ending 4567]`;
* social security numbers (`123-45-6789`, `123 45 6789`): `[SSN]`;
* 3 to 8 digits after a cue such as "PIN", "security code", "security", "CVV": `[secret]`;
* phone numbers (`+15551234567`, `(555) 123-4567`): as on the review pages, `+1 555 ••• 4567`.

What the agent must be able to say back stays: the last four digits of a card, 4-digit order
numbers, amounts, dates and times, ids such as a CallSid.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from voice.dialogue.numbers import number_runs

DOTS = "•••"
LONG_NUMBER = 7  # account numbers (7-8 digits) and longer; order numbers (4 digits) stay
CARD_DIGITS = range(13, 20)
SPOKEN_LIMIT = 4000  # longer strings (tracebacks) get the written patterns only
# A cue, then at most four words, right before the number.
_SECRET_CUE = re.compile(
    r"(?<!status )(?<!close )(?<!error )(?<!exit )(?<!zip )(?<!area )(?<!postal )"
    r"\b(pin|pin number|passcode|password|security|security code|cvv2?|cvc|cv2|ssn|code)\b"
    r"\W*(?:\w+\W+){0,4}$",
    re.I,
)
_SPOKEN_CHARS = re.compile(r"[A-Za-z]")
# Without a digit or one of these words a string holds no number to mask.
_NUMBER_WORD = re.compile(
    r"\b(zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|"
    r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|"
    r"double|triple)\b",
    re.I,
)

# Written patterns, applied in this order (each on the result of the last).
_PHONE = re.compile(  # "%2B": a "+" as a URL's query string has it (access logs)
    r"(?<![\w+])(?:(?:\+|%2[Bb])\d{8,15}|(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4})(?![\w])"
)
_SSN = re.compile(r"(?<![\w.-])\d{3}([- ])\d{2}\1\d{4}(?![\w]|[.-]\d)")
_GROUPED = re.compile(r"(?<![\w.+-])\d{1,6}(?:[ .-]\d{1,6}){2,7}(?![\w]|[.-]\d)")
_RUN = re.compile(rf"(?<![\w.])\d{{{LONG_NUMBER},}}(?![\w])")


def mask_phone(number: str) -> str:
    """'+15551234567' -> '+1 555 ••• 4567'; the full number never appears on a page."""
    digits = re.sub(r"\D", "", number or "")
    if not digits:
        return "withheld"
    if len(digits) == 11 and digits.startswith("1"):
        return f"+1 {digits[1:4]} {DOTS} {digits[-4:]}"
    if len(digits) >= 8:
        return f"+{digits[:2]} {DOTS} {digits[-4:]}"
    return f"{DOTS} {digits[-2:]}"


def _ending(digits: str) -> str:
    return f"[number ending {digits[-4:]}]"


def _phone(match: re.Match) -> str:
    text = re.sub(r"^%2[Bb]", "+", match.group())
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and len(digits) == 10:
        digits = "1" + digits  # a North American number written without its country code
    return mask_phone("+" + digits)


def _grouped(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return _ending(digits) if len(digits) in CARD_DIGITS else match.group()


def _written(text: str) -> str:
    text = _PHONE.sub(_phone, text)
    text = _SSN.sub("[SSN]", text)
    text = _GROUPED.sub(_grouped, text)
    return _RUN.sub(lambda m: _ending(m.group()), text)


def _spoken(text: str) -> str:
    """Numbers said in words, and any short number after a cue ("my pin is 4 3 2 1")."""
    out, last = [], 0
    for run in number_runs(text):
        digits = run.digits.replace(".", "")
        span = text[run.start : run.end]
        if _SECRET_CUE.search(text[max(0, run.start - 48) : run.start]) and 3 <= len(digits) <= 8:
            masked = "[secret]"
        elif len(digits) >= LONG_NUMBER and _SPOKEN_CHARS.search(span) and "[" not in span:
            masked = _ending(digits)
        else:
            continue
        out.append(text[last : run.start])
        out.append(masked)
        last = run.end
    out.append(text[last:])
    return "".join(out)


def mask_text(text: str) -> str:
    """'card 4111-1111-1111-1234' -> 'card [number ending 1234]'; 'my pin is 4321' ->
    'my pin is [secret]'; 'from +15551234567' -> 'from +1 555 ••• 4567'."""
    has_digits = any(c.isdigit() for c in text)
    if not has_digits and not _NUMBER_WORD.search(text):
        return text
    masked = _written(text) if has_digits else text
    if len(masked) <= SPOKEN_LIMIT:
        with contextlib.suppress(Exception):  # masking must never lose the line it masks
            masked = _spoken(masked)
    return masked


# The name the pipeline has always used.
mask_secrets = mask_text


def mask_value(value: Any, keep: Callable[[str], bool] = lambda _key: False) -> Any:
    """`value` with every string in it masked: dicts (their values; keys for which `keep` is
    true are left alone), lists and tuples all the way down. An integer as long as a card
    number is masked too; other values (times, counts, scores) are returned as is."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return _ending(str(abs(value)))
    if isinstance(value, dict):
        return {k: v if keep(k) else mask_value(v, keep) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v, keep) for v in value)
    return value
