"""Sentiment per caller turn, the escalation policy, and handing the call to a person.

Called by the responder with every planned turn. It scores the caller's words, lets the
policy decide, and when it escalates: the agent says it is connecting the caller, and once
that line has been heard the call is moved to a person (`transfer`, provided by the
telephony edge). If the move fails the caller hears that a person will call back, and a
callback request is stored. With no number to hand over to (no HUMAN_AGENT_NUMBER) no move
is tried: the caller hears only that a colleague will call them back, never "I'm putting you
through" first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from voice import metrics
from voice.conversation import Handover
from voice.dialogue.plan import TurnPlan
from voice.dialogue.policy import TurnManager
from voice.escalation.policy import CallerTurnSignal, EscalationDecision, EscalationPolicy
from voice.escalation.sentiment import NEUTRAL, SentimentClassifier, SentimentScore, features
from voice.prompts import load_prompt
from voice.session import CallSession
from voice.store.callbacks import request_callback


class TransferOutcome(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str: ...


# (call_sid, *, caller_name, reason, summary[, number]): `number` instead of HUMAN_AGENT_NUMBER
Transfer = Callable[..., Awaitable[TransferOutcome]]

# Speech synthesis failed this many sentences in a row (the caller heard the apology): the
# next caller turn goes to a person, as a failing agent's would (voice/pipeline/speaker.py).
TTS_FAILURES_FOR_HANDOVER = 2


class HandoverCoordinator:
    def __init__(
        self,
        session: CallSession,
        turns: TurnManager,
        classifier: SentimentClassifier,
        policy: EscalationPolicy,
        transfer: Transfer,
        *,
        can_transfer: bool = True,
    ) -> None:
        """`can_transfer`: a number to hand calls over to is configured (HUMAN_AGENT_NUMBER)."""
        self._session, self._turns = session, turns
        self._classifier, self._policy, self._transfer = classifier, policy, transfer
        self._can_transfer = can_transfer
        self._index = 0

    def anticipate(self, text: str) -> None:
        """Embed now what scoring `text` will need (blocking; the vectors are cached)."""
        if text.strip():
            features(self._classifier.embedder, [text.strip()])

    async def __call__(self, plan: TurnPlan, text: str, dtmf: str) -> Handover | None:
        score = await asyncio.to_thread(self._classifier.predict, text) if text else NEUTRAL
        if text:  # a keypad turn has no words to score, and no caller row of its own
            self._record_sentiment(score)
        signal = CallerTurnSignal(
            index=self._index,
            text=text,
            sentiment=score,
            dtmf=dtmf or None,
            agent_failed=plan.failed,
            request_key=plan.request_key,
            topic=_topic(plan.intent),
            wants_person=plan.wants_human,
        )
        self._index += 1
        decision = self._policy.observe(signal)
        if decision is None and plan.wants_human and not self._session.escalated:
            decision = EscalationDecision(
                "human_request",
                (signal.index,),
                (score.score,),
                self._about("Caller asked for a person"),
            )
        failures = self._session.tts_failures_in_a_row
        if decision is None and failures >= TTS_FAILURES_FOR_HANDOVER:
            topic = self._topic()
            reason = f"The agent's voice failed ({failures} sentences in a row)" + (
                f"; the caller called about {topic}" if topic else ""
            )
            decision = EscalationDecision("tts_failure", (signal.index,), (score.score,), reason)
        if plan.wants_callback:
            self._callback("Caller asked to be called back")
        if decision is None or self._session.escalated:
            return None
        self._escalate(decision)
        return self._handover(decision)

    def take_over(self, manager: str, number: str = "") -> Handover | None:
        """A supervisor takes the call (the live console): the same hand-over as an escalation,
        to `number` (the manager's own phone) or HUMAN_AGENT_NUMBER, with the summary whispered.
        None when the call is already being handed over."""
        if self._session.escalated:
            return None
        decision = EscalationDecision(
            "supervisor",
            (max(self._index - 1, 0),),
            (),
            self._about(f"{manager} took the call over"),
        )
        self._escalate(decision)
        return self._handover(decision, number)

    def _handover(self, decision: EscalationDecision, number: str = "") -> Handover:
        """What the caller hears first, and the move once it has been heard."""
        if number or self._can_transfer:
            return Handover(load_prompt("handoff"), lambda: self._move(decision, number))
        return Handover(load_prompt("handoff_unavailable"), lambda: self._call_back(decision))

    def _topic(self) -> str | None:
        return next((_topic(t) for t in reversed(self._turns.topics()) if _topic(t)), None)

    def _about(self, reason: str) -> str:
        topic = self._topic()
        return f"{reason} about {topic}" if topic else reason

    def _record_sentiment(self, score: SentimentScore) -> None:
        self._session.event(
            "sentiment",
            turn=self._index,
            label=score.label,
            score=round(score.score, 3),
            escalation_probability=round(score.escalation_probability, 3),
        )
        self._session.write(
            self._session.store.set_sentiment,
            self._session.call_sid,
            score.label,
            score.score,
            score.escalation_probability,
        )

    def _escalate(self, decision: EscalationDecision) -> None:
        self._session.escalated = True
        self._session.event(
            "escalation",
            rule=decision.rule,
            reason=decision.reason,
            turns=list(decision.turns),
            scores=[round(s, 3) for s in decision.scores],
        )
        self._session.write(
            self._session.store.set_escalation,
            self._session.call_sid,
            decision.rule,
            decision.reason,
            decision.turn,
        )
        metrics.ESCALATIONS.labels(rule=decision.rule).inc()

    def _callback(self, reason: str) -> None:
        customer = self._turns.state.customer
        self._session.write(
            request_callback,
            self._session.store.engine,
            call_sid=self._session.call_sid,
            phone=self._session.caller,
            name=customer.name if customer else "",
            reason=self._about(reason),
            summary=self._turns.summary(),
        )
        self._session.event("callback_requested")

    async def _move(self, decision: EscalationDecision, number: str = "") -> str | None:
        customer = self._turns.state.customer
        name = customer.name if customer else "an unknown caller"
        summary = self._turns.summary()
        to = {"number": number} if number else {}
        result = await self._transfer(
            self._session.call_sid, caller_name=name, reason=decision.reason, summary=summary, **to
        )
        if result.ok:
            self._session.end("transferred")
            self._session.event("transferred")
            return None
        self._session.event("transfer_failed", error=result.error)
        self._promise_callback(decision)
        return load_prompt("callback")

    async def _call_back(self, decision: EscalationDecision) -> str:
        """No one to hand over to: the call-back is stored, the caller hears it promised."""
        self._session.event("transfer_skipped", reason="no HUMAN_AGENT_NUMBER")
        self._promise_callback(decision)
        return load_prompt("callback_later")

    def _promise_callback(self, decision: EscalationDecision) -> None:
        customer = self._turns.state.customer
        self._session.write(
            request_callback,
            self._session.store.engine,  # kept if DB is down
            call_sid=self._session.call_sid,
            phone=self._session.caller,
            name=customer.name if customer else "",
            reason=decision.reason,
            summary=self._turns.summary(),
        )
        self._session.event("callback_requested")
        self._session.end("callback_requested")


# What the human hears the call was about ("about a late order"); not every intent is a topic.
TOPICS = {
    "order_status": "an order",
    "order_tracking": "an order's tracking",
    "order_details": "an order",
    "order_cancel": "cancelling an order",
    "order_change": "changing an order",
    "order_missing": "a missing parcel or item",
    "return_request": "a return",
    "return_status": "a return",
    "shop_product": "buying something",
    "complaint": "a complaint",
    "account_balance": "their balance",
    "card_block": "blocking a card",
    "card_unblock": "unblocking a card",
    "card_status": "a card",
    "card_replace": "a replacement card",
    "transfer_money": "a money transfer",
    "transaction_dispute": "a disputed payment",
    "transaction_history": "their transactions",
    "pin_help": "their PIN",
    "bank_product": "a bank product",
    "appointment_book": "booking an appointment",
    "appointment_move": "moving an appointment",
    "appointment_cancel": "cancelling an appointment",
    "appointment_info": "an appointment",
    "prescription": "a prescription",
    "test_results": "test results",
    "medical_advice": "a medical question",
    "opening_hours": "opening hours",
    "location": "where we are",
    "policy_question": "a policy question",
    "update_details": "their contact details",
    "callback_request": "a call back",
}


def _topic(intent: str) -> str | None:
    return TOPICS.get(intent)
