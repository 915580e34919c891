"""Split a streamed LLM reply into sentences that can be spoken one at a time."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by quotes, brackets or markdown) and a space.
_END = re.compile(r"""(?<=[.!?])["')\]*_]*\s+""")
# Abbreviations and single letters that end with a dot but do not end a sentence.
_NOT_AN_END = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|No|vs|etc|e\.g|i\.e|a\.m|p\.m)|\b[A-Z])\.$")
_MARKUP = re.compile(r"[*_#`>\[\]]+")


def clean_for_speech(text: str) -> str:
    """Drop markdown and collapse whitespace: the caller hears words, not formatting."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


class SentenceSplitter:
    """Accumulates tokens and yields each complete sentence as soon as it ends."""

    def __init__(self, min_chars: int = 8) -> None:
        self._buffer = ""
        self._min_chars = min_chars

    def feed(self, token: str) -> list[str]:
        self._buffer += token
        sentences: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start : match.start()].strip()
            if len(candidate) < self._min_chars or _NOT_AN_END.search(candidate):
                continue
            sentences.append(clean_for_speech(candidate))
            start = match.end()
        self._buffer = self._buffer[start:]
        return [s for s in sentences if s]

    def flush(self) -> list[str]:
        rest = clean_for_speech(self._buffer)
        self._buffer = ""
        return [rest] if rest else []
