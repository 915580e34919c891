"""Split a streamed LLM reply into sentences that can be spoken one at a time."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by quotes, brackets or markdown) and a space.
_END = re.compile(r"""(?<=[.!?])["')\]*_]*\s+""")
# Abbreviations and single letters that end with a dot but do not end a sentence.
_NOT_AN_END = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|No|vs|etc|e\.g|i\.e|a\.m|p\.m)|\b[A-Z])\.$")
_MARKUP = re.compile(r"[*_#`>\[\]]+")
# A clause ends at , ; : or a dash, then a space ("1,250" is not a clause).
_CLAUSE_END = re.compile(r"(?<=[,;:—])\s+")
# The caller hears nothing until the first piece is synthesized: when a streamed reply's first
# sentence runs long, its first clause of at least this many characters is spoken on its own.
FIRST_CLAUSE_CHARS = 24


def clean_for_speech(text: str) -> str:
    """Drop markdown and collapse whitespace: the caller hears words, not formatting."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


class SentenceSplitter:
    """Accumulates tokens and yields each complete sentence as soon as it ends."""

    def __init__(self, min_chars: int = 8, first_clause_chars: int = FIRST_CLAUSE_CHARS) -> None:
        self._buffer = ""
        self._min_chars = min_chars
        self._first_clause_chars = first_clause_chars  # 0: whole sentences only
        self._emitted = False

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
        if not sentences and not self._emitted:
            sentences = self._first_clause()
        self._emitted = self._emitted or any(sentences)
        return [s for s in sentences if s]

    def _first_clause(self) -> list[str]:
        """The opening clause of a first sentence still streaming in, once it is long enough."""
        if not self._first_clause_chars or "(" in self._buffer:  # never split a bracket
            return []
        for match in _CLAUSE_END.finditer(self._buffer):
            if match.start() >= self._first_clause_chars:
                clause = clean_for_speech(self._buffer[: match.start()])
                self._buffer = self._buffer[match.end() :]
                return [clause]
        return []

    def flush(self) -> list[str]:
        rest = clean_for_speech(self._buffer)
        self._buffer = ""
        return [rest] if rest else []
