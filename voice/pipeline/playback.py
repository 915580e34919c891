"""What the caller has actually heard, from the marks Twilio echoes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class SpokenSentence:
    reply_id: int
    index: int
    text: str
    duration_s: float
    mark: str
    last: bool
    tts_ms: float = 0.0
    started_at: float | None = None  # when the caller started hearing it
    played: bool = False
    heard_fraction: float = 0.0

    @property
    def asks(self) -> bool:
        return self.text.rstrip().endswith("?")


class PlaybackTracker:
    """Follows each queued sentence until Twilio reports it played or a `clear` dropped it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._queue: list[SpokenSentence] = []  # sent, not yet played, in playout order
        self._history: list[SpokenSentence] = []

    @property
    def agent_speaking(self) -> bool:
        return bool(self._queue)

    def asked_since(self, moment: float) -> bool:
        """A question began to play at or after `moment` (on the call's clock)."""
        starts = [s.started_at for s in self._history if s.asks]
        return any(start is not None and start >= moment for start in starts)

    @property
    def asking(self) -> bool:
        """The caller is hearing a question: one of the playing reply's sentences that has
        begun to play asks one (a "yes" now may answer it)."""
        if not self._queue:
            return False
        reply = self.sentences(self._queue[0].reply_id)
        return any(s.asks and s.started_at is not None for s in reply)

    def queued(
        self,
        reply_id: int,
        index: int,
        text: str,
        duration_s: float,
        last: bool,
        tts_ms: float = 0.0,
    ) -> SpokenSentence:
        sentence = SpokenSentence(
            reply_id, index, text, duration_s, mark=f"r{reply_id}s{index}", last=last, tts_ms=tts_ms
        )
        if not self._queue:
            sentence.started_at = self._clock()
        self._queue.append(sentence)
        self._history.append(sentence)
        return sentence

    def mark_played(self, name: str) -> SpokenSentence | None:
        for i, sentence in enumerate(self._queue):
            if sentence.mark == name:
                del self._queue[: i + 1]
                sentence.played, sentence.heard_fraction = True, 1.0
                if self._queue:
                    self._queue[0].started_at = self._clock()
                return sentence
        return None  # a mark already settled by a clear

    def cleared(self) -> list[SpokenSentence]:
        """Everything queued was dropped; the sentence playing was heard only in part."""
        dropped, self._queue = self._queue, []
        now = self._clock()
        for sentence in dropped:
            if sentence.started_at is not None and sentence.duration_s > 0:
                elapsed = now - sentence.started_at
                sentence.heard_fraction = max(0.0, min(1.0, elapsed / sentence.duration_s))
        return dropped

    def heard_text(self, reply_id: int) -> str:
        """The words of a reply the caller heard, cut where playback was cut."""
        parts = []
        for s in (s for s in self._history if s.reply_id == reply_id):
            if s.played:
                parts.append(s.text)
            elif s.heard_fraction > 0:
                words = s.text.split()
                parts.append(" ".join(words[: int(len(words) * s.heard_fraction)]))
        return " ".join(p for p in parts if p).strip()

    def sentences(self, reply_id: int) -> list[SpokenSentence]:
        return [s for s in self._history if s.reply_id == reply_id]

    def forget(self, reply_id: int) -> None:
        self._history = [s for s in self._history if s.reply_id != reply_id]
