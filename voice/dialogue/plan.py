"""What the agent will do with one caller turn, and the tools a task uses to build it.

A task (orders, banking, appointments, policies) looks things up through the business layer and
returns a `TurnPlan`: the words to say, the facts they rest on, and at most one question left
open in the state. Every question goes through `TaskContext`, so the rules that keep the agent
safe live in one place: a confirmation always names one action and its object, and a question
is open for exactly one caller turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from voice.business import Business
from voice.dialogue.knowledge import KnowledgeBase, Passage
from voice.dialogue.state import ACTIONS, DialogueState, Question
from voice.dialogue.understanding import Reading

OFFER_PERSON = "Shall I put you through to a colleague, a real person who can help with that?"


@dataclass
class TurnPlan:
    intent: str
    say: str = ""  # a prepared reply, spoken as it is
    facts: dict[str, str] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)
    use_llm: bool = False  # let the LLM word the reply (guarded; `say` is the fallback)
    hang_up: bool = False
    wants_human: bool = False
    wants_callback: bool = False  # the caller asked to be called back
    failed: bool = False  # the agent could not do what the caller asked
    request_key: str | None = None  # the same key failing twice is a reason to escalate
    values: dict[str, Any] = field(default_factory=dict)
    act: str = ""
    confidence: float = 0.0
    offers: str | None = None  # the state-changing action the reply asks to confirm
    does: str | None = None  # the state-changing action carried out this turn
    question: str | None = None  # the kind of question left open, if any
    heard: bool = True  # False: words Whisper doubts anyone said; nothing reads their mood

    def then(self, other: TurnPlan) -> TurnPlan:
        """This reply followed by another (two requests in one turn)."""
        self.say = f"{self.say} {other.say}".strip()
        self.facts = {**self.facts, **other.facts}
        self.passages += other.passages
        for name in ("wants_human", "wants_callback", "failed", "hang_up"):
            setattr(self, name, getattr(self, name) or getattr(other, name))
        self.request_key = self.request_key or other.request_key
        self.offers, self.question = other.offers or self.offers, other.question
        self.does = self.does or other.does
        return self


@dataclass
class TaskContext:
    """Everything a task may use for one turn."""

    state: DialogueState
    business: Business
    knowledge: KnowledgeBase
    reading: Reading
    today: date
    now: Callable[[], datetime]
    extract_answer: Callable[[str, list[Passage]], str]
    topic: str | None = None  # the task the call was on before this turn

    @property
    def slots(self) -> dict[str, Any]:
        return self.state.slots

    @property
    def customer_id(self) -> int | None:
        return self.state.customer.id if self.state.customer else None

    # -- questions: the only ways a plan leaves something open ---------------------------
    def ask(self, task: str, slot: str, say: str, **facts: str) -> TurnPlan:
        return self._open(
            TurnPlan(task, say=say, facts=dict(facts)),
            Question("slot", task=task, slot=slot, text=say),
        )

    def choose(self, task: str, slot: str, options: list[Any], say: str) -> TurnPlan:
        self.state.offered = list(options)
        return self._open(
            TurnPlan(task, say=say),
            Question("choose", task=task, slot=slot, options=list(options), text=say),
        )

    def confirm(
        self, task: str, action: str, args: dict[str, Any], say: str, **facts: str
    ) -> TurnPlan:
        """Ask to carry out `action` on the object in `args`; only a yes to this runs it."""
        assert action in ACTIONS, action
        plan = TurnPlan(task, say=say, facts=dict(facts), offers=action)
        return self._open(
            plan, Question("confirm", task=task, action=action, args=dict(args), text=say)
        )

    def offer_person(self, task: str, say: str, *, failed: bool = True, **facts: str) -> TurnPlan:
        """An honest limit: what can't be done here, and the offer of a colleague."""
        text = f"{say} {OFFER_PERSON}".strip()
        # Not a failure to repeat-count: the agent answered honestly and offered a person; the
        # caller decides (a second "can't" must not hand them over unasked).
        plan = TurnPlan(task, say=text, facts=dict(facts), failed=failed)
        self.state.limit = say
        self.state.forget_task()
        return self._open(plan, Question("offer_person", task=task, text=text))

    def clarify(self, options: list[str], say: str) -> TurnPlan:
        return self._open(
            TurnPlan("clarify", say=say), Question("clarify", options=list(options), text=say)
        )

    def _open(self, plan: TurnPlan, question: Question) -> TurnPlan:
        previous = self.state.question
        if previous and previous.kind == question.kind and previous.text == question.text:
            question.tries = previous.tries + 1
        self.state.question = question
        if question.kind in ("slot", "choose"):
            self.state.task = question.task
        plan.question = question.kind
        return plan

    # -- endings --------------------------------------------------------------------------
    def answered(self, task: str, say: str, done: str = "", **facts: str) -> TurnPlan:
        """The caller got what they asked for."""
        if done:
            self.state.done.append(done)
        self.state.resolved = True
        self.state.forget_task()
        return TurnPlan(task, say=say, facts=dict(facts))

    def cannot(self, task: str, say: str, **facts: str) -> TurnPlan:
        """Something the caller asked for does not exist or is not allowed (said plainly)."""
        self.state.refused = True
        return self.could_not(task, say, **facts)

    def could_not(self, task: str, say: str, **facts: str) -> TurnPlan:
        """It failed here ("I couldn't make that change"): no answer the caller can settle on."""
        self.state.forget_task()
        return TurnPlan(
            task, say=say, facts=dict(facts), failed=True, request_key=f"{task}:refused"
        )
