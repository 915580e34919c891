"""The business's identifiers as they are stored, from however a caller or a form gives them:
phone numbers in E.164, order numbers as their digits."""

from __future__ import annotations

import re

import phonenumbers

from voice.dialogue.numbers import spoken_digits

REGION = "US"  # numbers given without a country code are North American


def normalise_phone(text: str) -> str:
    """'(555) 123-4567', '1 555 123 4567' or '+15551234567' -> '+15551234567'.

    phonenumbers reads the number (region US, so a leading 1 is the country code and 011 the
    international prefix); what it can't take for a whole number (a fragment, too many digits)
    keeps its digits behind a '+', so a search for part of a number still finds it. '' when
    there are no digits.
    """
    digits = re.sub(r"\D", "", text)
    if not digits:
        return ""
    international = text.strip().startswith("+")
    try:
        number = phonenumbers.parse(f"+{digits}" if international else digits, REGION)
    except phonenumbers.NumberParseException:
        return f"+{digits}"
    if not phonenumbers.is_possible_number(number):
        return f"+{digits}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_order_number(text: str) -> str:
    """'#4521', 'order 45 21', 'four five two one' or 'forty five twenty one' -> '4521'.

    Speech-to-text writes numbers in many ways; the shared transcript parser reads them all,
    and the first whole number said is taken as the order number ('' when there is none).
    """
    runs = [digits for digits in spoken_digits(text) if digits.isdigit()]
    return runs[0] if runs else ""
