"""A warning that a client can trigger at will, logged a few times per stream and then counted.

A media stream once wrote one warning line per bad frame: a client sending garbage as fast as
the socket takes it flooded the log (and the disk) with lines of its choosing. Now the first
`first` of them are logged as they come, the last of those saying that further ones are only
counted, and `summary()` (when the stream ends) logs one line with the count and the reasons.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

MAX_REASON = 120  # a reason may quote the client (an unknown event's name): never all of it
MAX_REASONS = 10  # distinct reasons kept for the summary


def clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


class LimitedWarnings:
    def __init__(self, logger: Any, message: str, first: int = 5) -> None:
        self.log, self.message, self.first = logger, message, first
        self.count = 0
        self.reasons: Counter[str] = Counter()

    def warn(self, reason: str, **fields: Any) -> None:
        self.count += 1
        reason = clip(reason)
        if reason in self.reasons or len(self.reasons) < MAX_REASONS:
            self.reasons[reason] += 1
        if self.count < self.first:
            self.log.warning(self.message, reason=reason, **fields)
        elif self.count == self.first:
            self.log.warning(
                self.message,
                reason=reason,
                further="only counted from here: one summary line when the stream ends",
                **fields,
            )

    @property
    def unlogged(self) -> int:
        return max(0, self.count - self.first)

    def summary(self, **fields: Any) -> None:
        """One line when some went unlogged; nothing otherwise."""
        if self.unlogged:
            self.log.warning(
                f"{self.message}: {self.unlogged} more not logged",
                total=self.count,
                reasons=dict(self.reasons.most_common()),
                **fields,
            )
