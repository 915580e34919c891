"""What the agent knows in the middle of a call, and the one question it is waiting on.

A careful human agent keeps two kinds of memory. The call's facts: who is calling, which order,
card or appointment the conversation is about, the day and time the caller wants, what has been
done. And the question just asked: "Shall I block your card ending 7733?" is answered by the
caller's next turn or not at all. Here the question lives exactly one caller turn: the policy
takes it out of the state before reading the turn, and it is gone unless the reply asks again.
So a "yes" three turns later, about something else, can never block a card.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from voice.business.records import AppointmentInfo, CustomerInfo
from voice.store.history import CallerProfile

# Actions that change something for the caller; each needs an explicit yes to a question that
# named it and its object, asked in the agent's immediately preceding turn.
ACTIONS = frozenset(
    {"block_card", "start_return", "book_appointment", "move_appointment", "cancel_appointment"}
)
# What the caller may have said earlier and still means ("it", "that order"); kept all call.
FOCUS_KEYS = ("order_number", "card_last4", "appointment_id", "account_kind")
# What a task gathers while it runs (a day, a time, a kind); dropped when the task ends.
TASK_KEYS = (
    "date",
    "date_was",
    "date_hint",
    "time",
    "part_of_day",
    "appointment_kind",
    "doctor",
    "amount",
    "reason",
    "item",
    "item_order",
)


@dataclass
class Question:
    """The agent's question in its last turn.

    kind:
      confirm       "Shall I <action> <object>?": a yes runs `action` with `args`
      slot          "What's the order number?": the answer fills `slot` for `task`
      choose        "Which one: A or B?": the answer picks one of `options` for `task`
      offer_person  "Shall I put you through to a colleague?": a yes hands the call over
      clarify       "Is it about A or B?": the answer picks one of the intents in `options`
    """

    kind: str
    task: str | None = None
    action: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    slot: str | None = None
    options: list[Any] = field(default_factory=list)
    text: str = ""
    tries: int = 0  # how many times it was asked in a row without an answer

    @property
    def expecting(self) -> str | None:
        """The slot a bare value in the answer fills."""
        return self.slot if self.kind in ("slot", "choose") else None


@dataclass
class DialogueState:
    customer: CustomerInfo | None = None
    profile: CallerProfile | None = None
    turn: int = 0
    question: Question | None = None
    task: str | None = None  # a task waiting for an answer (kept while its question is open)
    last_task: str | None = None  # what "no, the other one" redoes
    slots: dict[str, Any] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)  # further requests said in the same turn
    offered: list[Any] = field(default_factory=list)  # things the agent listed or named last
    appointments_named: list[AppointmentInfo] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # what was looked up or changed: the summary
    actions: list[str] = field(default_factory=list)  # state-changing actions carried out
    # Actions a supervisor forbade on this call (the live console): a yes never runs them.
    blocked: set[str] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)
    last_reply: str = ""
    limit: str = ""  # the last "I can't do that here" said, for a caller who pushes back
    resolved: bool = False  # the caller got what they asked for (a task answered or done)
    # Told plainly that what they asked for cannot be, and why ("order 4290 was cancelled, so
    # there's nothing to return"): a settled answer once the caller ends the call politely.
    refused: bool = False
    ended_politely: bool = False  # the caller's latest turn was thanks or goodbye

    def forget_task(self) -> None:
        """The task is over: its gathered values go, the things it was about stay in focus."""
        for key in TASK_KEYS:
            self.slots.pop(key, None)
        self.task = None

    def note_topic(self, intent: str) -> None:
        if intent not in self.topics:
            self.topics.append(intent)
