"""When to hand a call to a person: explainable rules over each caller turn, one policy per call.

Pure (no I/O, no clock, no pipecat): the turn manager feeds one `CallerTurnSignal` per caller
turn and acts on the first `EscalationDecision`. The rules, checked in this order:

1. `dtmf_zero`: the caller pressed 0.
2. `human_request`: the understanding layer read a request for a person (any wording: "an
   agent", "your supervisor", "someone who isn't a computer"; not "I don't need a person").
3. `repeated_failure`: the agent failed the same request `repeat_failures` times.
4. `sharp_negative`: one turn that is very negative and very likely to need a person, and
   long enough to be a sentence: one rude word never hands a call over.
5. `sustained_negative`: over the last `window_turns` turns the mean score is at or below
   `negative_threshold` and at least `min_negative_turns` of them were upset (negative and
   likely to need a person). Mild grumbles ("that's a bit annoying") are negative but not
   upset, so a caller who is merely disappointed stays with the agent.

A policy decides at most once per call.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from voice.escalation.sentiment import SentimentScore


@dataclass(frozen=True)
class EscalationConfig:
    window_turns: int = 3
    negative_threshold: float = -0.4  # mean score over the window; also what counts as negative
    upset_probability: float = 0.5  # escalation probability that makes a negative turn "upset"
    min_negative_turns: int = 2
    sharp_threshold: float = -0.8
    sharp_probability: float = 0.9
    sharp_min_words: int = 4
    repeat_failures: int = 2


@dataclass(frozen=True)
class CallerTurnSignal:
    """What the policy knows about one caller turn.

    `request_key` names what the caller is trying to get done ("order_status"), so the same
    request failing twice is noticed; `topic` is a few words for the human agent's note
    ("a late order").
    """

    index: int
    text: str
    sentiment: SentimentScore
    dtmf: str | None = None
    agent_failed: bool = False
    request_key: str | None = None
    topic: str | None = None
    wants_person: bool = False  # the understanding read a request for a person


@dataclass(frozen=True)
class EscalationDecision:
    rule: str
    turns: tuple[int, ...]
    scores: tuple[float, ...]
    reason: str

    @property
    def turn(self) -> int:
        """The turn on which the decision was taken."""
        return self.turns[-1]


class EscalationPolicy:
    """One per call. `observe()` each caller turn; the first decision is the only one."""

    def __init__(self, config: EscalationConfig | None = None) -> None:
        self.config = config or EscalationConfig()
        self.decision: EscalationDecision | None = None
        self._window: deque[CallerTurnSignal] = deque(maxlen=self.config.window_turns)
        self._failures: Counter[str] = Counter()
        self._failed_turns: dict[str, list[CallerTurnSignal]] = {}

    def observe(self, turn: CallerTurnSignal) -> EscalationDecision | None:
        if self.decision is not None:
            return None
        if turn.text:  # keypad digits say nothing about mood; a 0 in them is handled below
            self._window.append(turn)
        self._count_failure(turn)
        self.decision = (
            self._dtmf(turn)
            or self._request(turn)
            or self._repeated(turn)
            or self._sharp(turn)
            or self._sustained()
        )
        return self.decision

    def _count_failure(self, turn: CallerTurnSignal) -> None:
        if turn.agent_failed and turn.request_key:
            self._failures[turn.request_key] += 1
            self._failed_turns.setdefault(turn.request_key, []).append(turn)

    def _dtmf(self, turn: CallerTurnSignal) -> EscalationDecision | None:
        if turn.dtmf != "0":
            return None
        return _decide("dtmf_zero", [turn], "Caller pressed 0 to reach a person")

    def _request(self, turn: CallerTurnSignal) -> EscalationDecision | None:
        if not turn.wants_person:
            return None
        return _decide("human_request", [turn], _about("Caller asked for a person", [turn]))

    def _repeated(self, turn: CallerTurnSignal) -> EscalationDecision | None:
        key = turn.request_key
        if not (turn.agent_failed and key and self._failures[key] >= self.config.repeat_failures):
            return None
        failed = self._failed_turns[key]
        what = turn.topic or key.replace("_", " ")
        return _decide(
            "repeated_failure", failed, f"The agent could not help with {what} {len(failed)} times"
        )

    def _sharp(self, turn: CallerTurnSignal) -> EscalationDecision | None:
        c, s = self.config, turn.sentiment
        if (
            s.score > c.sharp_threshold
            or s.escalation_probability < c.sharp_probability
            or len(turn.text.split()) < c.sharp_min_words
        ):
            return None
        return _decide("sharp_negative", [turn], _about("Caller is very upset", [turn]))

    def _sustained(self) -> EscalationDecision | None:
        c, window = self.config, list(self._window)
        if not window:
            return None
        upset = [
            t
            for t in window
            if t.sentiment.score <= c.negative_threshold
            and t.sentiment.escalation_probability >= c.upset_probability
        ]
        mean = sum(t.sentiment.score for t in window) / len(window)
        if len(upset) < c.min_negative_turns or mean > c.negative_threshold:
            return None
        reason = _about(f"Caller has been upset for {len(upset)} turns", window)
        return _decide("sustained_negative", window, reason)


def _decide(rule: str, turns: list[CallerTurnSignal], reason: str) -> EscalationDecision:
    return EscalationDecision(
        rule=rule,
        turns=tuple(t.index for t in turns),
        scores=tuple(round(t.sentiment.score, 3) for t in turns),
        reason=reason,
    )


def _about(reason: str, turns: list[CallerTurnSignal]) -> str:
    """Append the latest known topic: the human agent should know what it is about."""
    topic = next((t.topic for t in reversed(turns) if t.topic), None)
    return f"{reason} about {topic}" if topic else reason
