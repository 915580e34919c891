"""Mask secrets callers say (card and account numbers, PINs, security codes) in what we store.

The audio stays as recorded (access-controlled); transcripts, events and logs keep only the
last four digits of a long number and nothing of a PIN or security code.
"""

from __future__ import annotations

import re

from voice.dialogue.numbers import number_runs

LONG_NUMBER = 8  # card (13-19) and account numbers; order numbers (4 digits) stay readable
_SECRET_CUE = re.compile(
    r"\b(pin|passcode|password|security code|cvv|cvc|cv2|code)\b\W*"
    r"(?:\w+\W+){0,3}$",
    re.I,
)


def mask_secrets(text: str) -> str:
    """'card 4111 1111 1111 1234' -> 'card [card ending 1234]'; 'my pin is 4321' -> '[PIN]'."""
    out, last = [], 0
    for run in number_runs(text):
        digits = run.digits.replace(".", "")
        masked = _mask(text[: run.start], digits)
        if masked is None:
            continue
        out.append(text[last : run.start])
        out.append(masked)
        last = run.end
    out.append(text[last:])
    return "".join(out)


def _mask(before: str, digits: str) -> str | None:
    if _SECRET_CUE.search(before[-40:]) and 3 <= len(digits) <= 8:
        return "[secret]"
    if len(digits) >= LONG_NUMBER:
        return f"[number ending {digits[-4:]}]"
    return None
