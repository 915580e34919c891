"""Whether a transcript reads out a digit string: an order, card, account or phone number.

Whisper reads digit strings worst in a short window ("four five two one" came out "4 times
2 1" in a 10 s one) and without the words that led to them, so such an utterance is decoded
again (`voice.engines.stt`, `voice.pipeline.transcriber`). A number said in passing ("two
weeks", "the first one", "$12", "forty minutes") is read well either way, and decoding it
again would only cost time: most long turns hold one.

A digit string is three digits or more in one group ("4521", "4,521"), or two numbers in a
row ("four five", "4 5", "45 21", "double seven"), counting the words Whisper writes for a
digit it misheard ("for five to one") only inside such a run. Times and amounts ("3:30",
"$12.50") are one number, not a string.
"""

from __future__ import annotations

import re

NUMBER_WORDS = frozenset(
    re.findall(
        r"\w+",
        "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
        "eighty ninety hundred thousand double triple",
    )
)
# Words Whisper writes for a digit it misheard ("for five to one"), with the digit meant: a
# number only inside a run of digits. voice.dialogue.numbers reads them with the same table.
HOMOPHONES = {"for": 4, "fore": 4, "to": 2, "too": 2, "won": 1, "ate": 8, "oh": 0, "o": 0}
_TOKEN = re.compile(r"[$£€]?\d+(?:[.,:]\d+)*|[a-z]+(?:'[a-z]+)?", re.IGNORECASE)
_AMOUNT_OR_TIME = re.compile(r"[$£€].*|\d{1,2}:\d{2}")
_ENDS_IN_NUMBER = re.compile(r"(\d|\b(?:" + "|".join(NUMBER_WORDS) + r"))[\W_]*$", re.IGNORECASE)
_STARTS_WITH_NUMBER = re.compile(
    r"^[\W_]*(\d|(?:" + "|".join(NUMBER_WORDS) + r")\b)", re.IGNORECASE
)


def reads_digits(text: str) -> bool:
    """Whether `text` reads out a digit string (see the module doc)."""
    run = numbers = 0  # tokens in the current run of numbers; how many of them are not homophones
    for token in _TOKEN.findall(text.lower()):
        if token[0].isdigit() or token[0] in "$£€":
            if _long_group(token):
                return True
            run, numbers = run + 1, numbers + 1
        elif token in NUMBER_WORDS:
            run, numbers = run + 1, numbers + 1
        elif token in HOMOPHONES:  # inside a run, or the start of one ("for five to one")
            run, numbers = (run + 1, numbers) if run else (1, 0)
        else:
            run = numbers = 0
        if numbers >= 2:
            return True
    return False


def ends_in_number(text: str) -> bool:
    return bool(_ENDS_IN_NUMBER.search(text.strip()))


def starts_with_number(text: str) -> bool:
    return bool(_STARTS_WITH_NUMBER.search(text.strip()))


def _long_group(token: str) -> bool:
    """Three digits or more in one group ("4521", "908.7", "46.01"), not a time or an amount
    ("10:30", "$12.50")."""
    return sum(ch.isdigit() for ch in token) >= 3 and not _AMOUNT_OR_TIME.fullmatch(token)
