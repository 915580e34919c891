"""The turn manager: understand a caller turn, run the right look-up or action, plan the reply.

Facts come from the business's database and its policy documents, never from the LLM: a
plan either carries a prepared reply built from those facts (`say`), or asks the LLM to
compose one (`use_llm`) with the facts it may use, a guard, and a fallback built from facts.
Changing actions are confirmed before they run. No pipecat here: this is testable alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from voice.business.service import (
    ACTIVE_APPOINTMENT_STATUSES,
    ActionResult,
    AppointmentInfo,
    Business,
    CustomerInfo,
    OrderInfo,
    facts_for_order,
    kind_key,
    normalise_order_number,
    spoken_date,
    spoken_time,
    status_facts_for_order,
)
from voice.dialogue.knowledge import KnowledgeBase, Passage
from voice.dialogue.understanding import (
    Encoder,
    Understanding,
    is_affirmation,
    is_denial,
    refers_to_other,
    understand,
)
from voice.store.history import CallerProfile, as_context

HUMAN_INTENTS = {"speak_to_human"}
ORDER_TASKS = {"order_status", "start_return"}
APPOINTMENT_TASKS = {"move_appointment", "cancel_appointment"}
CONFIRMED_ACTIONS = {
    "start_return",
    "block_card",
    "book_appointment",
    "move_appointment",
    "cancel_appointment",
}
MIN_PASSAGE_SCORE = 0.35
# Asked again when the answer to a question was not understood (better than a guess).
REASK = {
    "order_number": "Sorry, I didn't catch the order number. Could you read it to me digit by "
    "digit, or type it on your keypad and press hash?",
    "card_last4": "Sorry, I didn't catch that. What are the last four digits of the card?",
    "date": "Sorry, I didn't catch the day. Which day would suit you?",
    "time": "Sorry, I didn't catch the time. Which time works for you?",
    "appointment": "Sorry, which appointment do you mean? You can tell me its day or what "
    "it's for.",
}
# Said to a caller we can't tie to an order's account, after its status and delivery date.
ACCOUNT_HOLDER_ONLY = (
    "For anything more about it, please call us from the phone number on the account."
)
COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}
# "The first one", "the later one": picking from the appointments the agent listed.
ORDINALS = [
    (re.compile(r"\b(first|earlier|earliest|sooner|soonest)\b"), 0),
    (re.compile(r"\b(second|later)\b"), 1),
    (re.compile(r"\bthird\b"), 2),
    (re.compile(r"\b(last|latest)\b"), -1),
]
CAPABILITIES = (
    "I can check an order or start a return, tell you your balance or block a card, "
    "and book or move a clinic appointment."
)


@dataclass
class TurnPlan:
    intent: str
    say: str = ""  # a prepared reply, spoken as it is
    facts: dict[str, str] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)
    use_llm: bool = False  # let the LLM word the reply (guarded; `say` is the fallback)
    hang_up: bool = False
    wants_human: bool = False
    failed: bool = False  # the agent could not do what the caller asked
    request_key: str | None = None  # the same key failing twice is a reason to escalate
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class PendingAction:
    """A changing action waiting for the caller's yes."""

    name: str
    args: dict[str, Any]
    question: str


@dataclass
class DialogueState:
    customer: CustomerInfo | None = None
    profile: CallerProfile | None = None
    task: str | None = None
    last_task: str | None = None  # what a later "sorry, I meant ..." corrects
    slots: dict[str, Any] = field(default_factory=dict)
    expecting: str | None = None
    pending: PendingAction | None = None
    suggested_order: str | None = None
    orders_mentioned: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # what was looked up or changed, for the summary


class TurnManager:
    def __init__(
        self,
        business: Business,
        knowledge: KnowledgeBase,
        embedder: Encoder | None,
        profile: CallerProfile | None,
        caller: str,
        *,
        compose_answers: bool = False,
        today: date | None = None,
    ) -> None:
        self._business, self._knowledge, self._embedder = business, knowledge, embedder
        self._compose = compose_answers  # a capable LLM words policy answers itself
        self._today = today
        self.state = DialogueState(customer=business.customer_by_phone(caller), profile=profile)
        if profile and len(profile.open_orders) == 1:
            self.state.suggested_order = profile.open_orders[0]["order_number"]

    # -- the conversation's frame --------------------------------------------------------
    def greeting(self, default: str) -> str:
        profile = self.state.profile
        if profile is None or not profile.greeting_hint:
            return default
        return f"Thanks for calling Acme support, this is Sam. {profile.greeting_hint}"

    def offer_human(self, intent: str, question: str) -> TurnPlan:
        """Offer a person (e.g. to a caller speaking another language); a yes accepts."""
        self.state.pending = PendingAction("speak_to_human", {}, question)
        self._note_topic(intent)
        return TurnPlan(intent, say=question)

    def caller_context(self) -> str:
        return as_context(self.state.profile)

    @property
    def expecting(self) -> str | None:
        return self.state.expecting

    def today(self) -> date:
        return self._today or date.today()

    # -- one turn ------------------------------------------------------------------------
    def handle(self, text: str, dtmf: str = "") -> TurnPlan:
        u = understand(
            text, dtmf, expecting=self.state.expecting, today=self.today(), embedder=self._embedder
        )
        plan = self._route(u, text)
        self.state.suggested_order = None  # only the first answer can be a yes to the greeting
        plan.values = {k: str(v) for k, v in u.values.items()}
        if plan.intent not in ("affirm", "deny", "unknown", "greeting"):
            self._note_topic(plan.intent)
        return plan

    def _route(self, u: Understanding, text: str) -> TurnPlan:
        state = self.state
        if u.intent in HUMAN_INTENTS:
            return TurnPlan(
                "speak_to_human",
                wants_human=True,
                say="Of course. I'll connect you to a person now.",
            )
        if u.intent == "goodbye" and state.pending is None:
            return TurnPlan("goodbye", say="Thanks for calling Acme. Goodbye!", hang_up=True)
        if state.pending is not None:
            plan = self._answer_pending(u, text)
            if plan is not None:
                return plan
        if u.intent == "affirm" and state.suggested_order and state.task is None:
            u.values.setdefault("order_number", state.suggested_order)
            u.intent = "order_status"
        picks = self._picks_appointment(u, text)
        if (
            state.task
            and state.expecting in REASK
            and u.intent == "unknown"
            and not u.values
            and not picks
        ):
            return TurnPlan(
                state.task,
                say=REASK[state.expecting],
                failed=True,
                request_key=f"{state.task}:{state.expecting}",
            )
        answered = state.task is not None and (state.expecting in u.values or picks)
        changed = self._take_values(u, text)
        if u.intent in TASK_HANDLERS and not answered:
            state.task = state.last_task = u.intent
        elif state.task is None and u.correction and changed and state.last_task:
            state.task = state.last_task  # the answer was given; "no, the other order" redoes it
        elif state.task is None or not (u.values or u.correction or picks):
            return self._general(u, text)
        return TASK_HANDLERS[state.task](self, u, text)

    def _take_values(self, u: Understanding, text: str) -> bool:
        """Carry values across turns; a correction replaces what was said before.

        True when a slot got a new value.
        """
        values = dict(u.values)
        if u.correction and refers_to_other(text):
            values.update(self._the_other(values))
        changed = any(self.state.slots.get(k) != v for k, v in values.items())
        self.state.slots.update(values)
        if self.state.expecting in values:
            self.state.expecting = None
        return changed

    def _picks_appointment(self, u: Understanding, text: str) -> bool:
        """An answer to "which appointment?": its kind, its day or 'the first one'. Not a new
        task, even when 'the cleaning on Monday' sounds like a booking."""
        if self.state.expecting != "appointment":
            return False
        return bool({"appointment_kind", "date"} & u.values.keys()) or _ordinal(text) is not None

    def _the_other(self, values: dict[str, Any]) -> dict[str, Any]:
        """'No, the other one': the order, card or appointment not chosen, among the caller's."""
        task, slots = self.state.task or self.state.last_task, self.state.slots
        if task in APPOINTMENT_TASKS and "appointment_id" not in values:
            other = [
                a.id for a in self._active_appointments() if a.id != slots.get("appointment_id")
            ]
            return {"appointment_id": other[0]} if len(other) == 1 else {}
        if task in ORDER_TASKS and "order_number" not in values and self.state.orders_mentioned:
            other = [n for n in self._known_orders() if n != slots.get("order_number")]
            return {"order_number": other[0]} if other else {}
        if task == "block_card" and "card_last4" not in values and self.state.customer:
            other = [c for c in self._active_cards() if c != slots.get("card_last4")]
            return {"card_last4": other[0]} if len(other) == 1 else {}
        return {}

    def _answer_pending(self, u: Understanding, text: str) -> TurnPlan | None:
        pending = self.state.pending
        assert pending is not None
        if u.intent == "affirm" or (is_affirmation(text) and not u.values):
            self.state.pending = None
            if pending.name == "speak_to_human":
                return TurnPlan(
                    "speak_to_human",
                    wants_human=True,
                    say="Of course. I'll connect you to a person now.",
                )
            return self._run_action(pending)
        denied = u.intent == "deny" or is_denial(text)
        if denied or u.correction:
            self.state.pending = None
            if u.values or refers_to_other(text) or not denied:
                return None  # a correction ("wait", "I meant 4388"): re-plan the same task
            self.state.task = None  # a plain no, even "no, actually I found it"
            return TurnPlan("deny", say="Okay, I won't do that. What else can I help with?")
        return None  # something else entirely: the pending action lapses below

    # -- tasks ---------------------------------------------------------------------------
    def _order_status(self, u: Understanding, text: str) -> TurnPlan:
        order, plan = self._resolve_order("order_status")
        if order is None:
            return plan
        facts = self._order_facts(order)
        self.state.done.append(f"checked order {order.number} ({order.status})")
        self.state.task = None
        say = (
            facts["summary"] if self.state.customer else f"{facts['summary']} {ACCOUNT_HOLDER_ONLY}"
        )
        return TurnPlan("order_status", say=say, facts=facts)

    def _start_return(self, u: Understanding, text: str) -> TurnPlan:
        if self.state.customer is None:  # only the account holder may change an order
            return self._unknown_caller("start_return")
        order, plan = self._resolve_order("start_return")
        if order is None:
            return plan
        customer_id = self.state.customer.id if self.state.customer else None
        refusal = self._business.return_check(order.number, customer_id=customer_id)
        if refusal is not None:  # say why now rather than confirm something that can't happen
            self.state.task = None
            return self._result_plan("start_return", refusal, "start_return")
        facts = facts_for_order(order)
        reason = str(self.state.slots.get("reason", ""))
        return self._confirm(
            "start_return",
            {"order_number": order.number, "reason": reason},
            f"Just to confirm, shall I start a return for order {order.number}, "
            f"the {facts['items']}?",
            facts,
        )

    def _complaint(self, u: Understanding, text: str) -> TurnPlan:
        facts = self._order_facts_if_any()
        return TurnPlan(
            "complaint",
            use_llm=True,
            facts=facts,
            say="I'm sorry about that, I understand it's frustrating. "
            "Let me see what I can do. " + CAPABILITIES,
        )

    def _account_balance(self, u: Understanding, text: str) -> TurnPlan:
        customer = self.state.customer
        if customer is None:
            return self._unknown_caller("account_balance")
        kind = self.state.slots.get("account_kind")
        result = self._business.account_balance(customer.id, kind)
        self.state.task = None
        if result.ok:
            self.state.done.append("gave the account balance")
        return self._result_plan("account_balance", result, "balance")

    def _block_card(self, u: Understanding, text: str) -> TurnPlan:
        customer = self.state.customer
        if customer is None:
            return self._unknown_caller("block_card")
        last4, plan = self._resolve_card()
        if last4 is None:
            return plan
        return self._confirm(
            "block_card",
            {"customer_id": customer.id, "last4": last4},
            f"Do you want me to block your card ending in {last4} now? "
            "It can't be used again once it's blocked.",
            {},
        )

    def _resolve_card(self) -> tuple[str | None, TurnPlan]:
        """The active card to block: the one named, the only one, or ask which."""
        customer = self.state.customer
        assert customer is not None
        cards = self._business.cards_for(customer.id)
        active = [c.last4 for c in cards if c.status == "active"]
        named = self.state.slots.get("card_last4")
        if named and named not in [c.last4 for c in cards]:
            self.state.slots.pop("card_last4", None)
            endings = " and ".join(active)
            return None, self._ask(
                "block_card",
                "card_last4",
                f"I can't find a card ending {named}. "
                f"Your active cards end in {endings}. Which one is it?"
                if active
                else f"I can't find a card ending {named}.",
            )
        if named and named in active:
            return str(named), TurnPlan("block_card")
        if not named and len(active) == 1:
            return active[0], TurnPlan("block_card")
        if not named and len(active) > 1:
            return None, self._ask(
                "block_card",
                "card_last4",
                f"You have {len(active)} active cards, ending "
                f"{', '.join(active[:-1])} and {active[-1]}. "
                "Which one should I block?",
            )
        # Nothing active to block: the business says when it was blocked, nothing changes.
        self.state.task = None
        result = self._business.block_card(customer.id, named)
        return None, self._result_plan("block_card", result, "block_card")

    def _transfer_money(self, u: Understanding, text: str) -> TurnPlan:
        self.state.task = None
        return TurnPlan(
            "transfer_money",
            failed=True,
            request_key="transfer_money",
            say="For your security I can't move money over the phone. "
            "A person from our banking team can help with transfers; "
            "just say 'a person' if you'd like me to connect you.",
        )

    def _book_appointment(self, u: Understanding, text: str) -> TurnPlan:
        customer = self.state.customer
        if customer is None:
            return self._unknown_caller("book_appointment")
        said = str(self.state.slots.get("appointment_kind") or "check-up")
        kind = self._business.appointment_kind(said)
        if kind is None:
            self.state.task = None
            self.state.slots.pop("appointment_kind", None)
            offered = ", ".join(self._business.appointment_kinds())
            return TurnPlan(
                "book_appointment",
                failed=True,
                request_key="book_appointment:kind",
                say=f"I'm sorry, we don't offer {said} appointments. I can book a {offered}.",
            )
        return self._schedule("book_appointment", kind, {"customer_id": customer.id, "kind": kind})

    def _move_appointment(self, u: Understanding, text: str) -> TurnPlan:
        appointment, plan = self._resolve_appointment("move_appointment", text)
        if appointment is None:
            return plan
        return self._schedule(
            "move_appointment",
            appointment.kind,
            {"appointment_id": appointment.id, "customer_id": appointment.customer_id},
        )

    def _cancel_appointment(self, u: Understanding, text: str) -> TurnPlan:
        appointment, plan = self._resolve_appointment("cancel_appointment", text)
        if appointment is None:
            return plan
        starts = appointment.starts_at
        when = f"{spoken_date(starts.date())} at {spoken_time(starts)}"
        return self._confirm(
            "cancel_appointment",
            {"appointment_id": appointment.id, "customer_id": appointment.customer_id},
            f"Shall I cancel your {appointment.kind} on {when}?",
            {},
        )

    def _policy(self, u: Understanding, text: str) -> TurnPlan:
        self.state.task = None
        return self._knowledge_answer(u.intent, text)

    # -- shared steps --------------------------------------------------------------------
    def _general(self, u: Understanding, text: str) -> TurnPlan:
        intent = u.intent
        if intent == "greeting":
            return TurnPlan("greeting", say="Hi! How can I help you today?")
        if intent in ("affirm", "deny"):
            return TurnPlan(intent, say="Okay. What can I help you with? " + CAPABILITIES)
        return self._knowledge_answer("unknown", text)

    def _knowledge_answer(self, intent: str, text: str) -> TurnPlan:
        passages = self._knowledge.search(text, k=3, min_score=MIN_PASSAGE_SCORE)
        if not passages:
            return TurnPlan(
                intent,
                use_llm=intent == "unknown",
                failed=intent != "unknown",
                request_key=f"{intent}:{text[:40].lower()}",
                say="I'm not sure I can help with that. "
                + CAPABILITIES
                + " Or I can connect you to a person.",
            )
        self.state.done.append(f"answered from the {passages[0].source} policy")
        return TurnPlan(
            intent,
            passages=passages,
            use_llm=self._compose,
            say=self._extract_answer(text, passages),
        )

    def _extract_answer(self, question: str, passages: list[Passage]) -> str:
        """The two sentences of the best passage closest to the question (no LLM needed)."""
        sentences = [s.strip() for s in _split_sentences(passages[0].text) if len(s) > 12]
        if not sentences or self._embedder is None:
            return " ".join(sentences[:2]) or passages[0].text
        vectors = self._embedder.encode([question, *sentences])
        scores = vectors[1:] @ vectors[0]
        best = sorted(sorted(range(len(sentences)), key=lambda i: -scores[i])[:2])
        return " ".join(sentences[i] for i in best)

    def _resolve_order(self, task: str) -> tuple[OrderInfo | None, TurnPlan]:
        number = self.state.slots.get("order_number")
        if not number:
            candidates = self._candidate_orders(task)
            if len(candidates) == 1:
                number = candidates[0].number
            elif len(candidates) > 1:
                listed = " or ".join(o.number for o in candidates[:3])
                self._remember_orders([o.number for o in candidates])
                return None, self._ask(task, "order_number", f"Is that order {listed}?")
            else:
                return None, self._ask(task, "order_number", "What's the order number?")
        order = self._find_order(str(number))
        if order is None:
            self.state.slots.pop("order_number", None)
            # The same words whether the number is someone else's or nobody's: an order's
            # existence is not confirmed to a caller it doesn't belong to.
            where = " on your account" if self.state.customer else ""
            return None, TurnPlan(
                task,
                failed=True,
                request_key=f"{task}:order",
                say=self._ask(
                    task,
                    "order_number",
                    f"I couldn't find order {number}{where}. Could "
                    "you read me the number again, or type it on "
                    "your keypad?",
                ).say,
            )
        self.state.slots["order_number"] = order.number
        self._remember_orders([order.number])
        return order, TurnPlan(task)

    def _find_order(self, number: str) -> OrderInfo | None:
        """A known caller's own order, or the one own order a digit away; never another
        customer's. A caller we can't identify gets an exact match only (and hears only its
        status and delivery date: `_order_facts`)."""
        customer = self.state.customer
        if customer is None:
            return self._business.order(number)
        own = self._business.orders_for(customer.id)
        wanted = normalise_order_number(number)
        return next((o for o in own if o.number == wanted), None) or self._order_near(wanted, own)

    @staticmethod
    def _order_near(number: str, own: list[OrderInfo]) -> OrderInfo | None:
        """The one own order a digit away from a number that matches none: speech recognition
        doubles, drops or swaps a digit ('44410' for 4410, 'for 302' for 4302). The reply names
        the order and changes are confirmed, so a wrong guess is heard; two near orders are no
        guess at all. Only the caller's own orders: a guess must not reveal someone else's."""
        if len(number) < 3:
            return None
        near = [o for o in own if _one_digit_apart(o.number, number)]
        return near[0] if len(near) == 1 else None

    def _order_facts(self, order: OrderInfo) -> dict[str, str]:
        """All of it to the order's owner; status and delivery date to anyone else."""
        customer = self.state.customer
        if customer is not None and order.customer_id == customer.id:
            return facts_for_order(order)
        return status_facts_for_order(order)

    def _candidate_orders(self, task: str) -> list[OrderInfo]:
        """The orders a caller who gave no number most likely means: open ones for a status
        question, returnable ones (delivered, in the window) for a return."""
        customer = self.state.customer
        if customer is None:
            return []
        if task == "start_return":
            return self._business.returnable_orders(customer.id)
        return self._business.open_orders(customer.id)

    def _resolve_appointment(
        self, task: str, text: str = ""
    ) -> tuple[AppointmentInfo | None, TurnPlan]:
        """The upcoming, active appointment the caller means: the only one, the one picked by
        kind or day (or from the list the agent read out), or ask which."""
        if self.state.customer is None:
            return None, self._unknown_caller(task)
        active = self._active_appointments()
        if not active:
            self.state.task = None
            return None, TurnPlan(
                task,
                failed=True,
                request_key=f"{task}:none",
                say="I can't find an upcoming appointment in your name.",
            )
        chosen = self._choose_appointment(active, task, text)
        if chosen is None:
            return None, self._ask_which_appointment(task, active)
        self.state.slots["appointment_id"] = chosen.id
        if self.state.expecting == "appointment":
            self.state.expecting = None
        return chosen, TurnPlan(task)

    def _active_appointments(self) -> list[AppointmentInfo]:
        """Soonest first; cancelled and past ones are nothing to move or cancel."""
        customer = self.state.customer
        found = self._business.appointments_for(customer.id) if customer else []
        return [a for a in found if a.status in ACTIVE_APPOINTMENT_STATUSES]

    def _choose_appointment(
        self, active: list[AppointmentInfo], task: str, text: str
    ) -> AppointmentInfo | None:
        slots, answering = self.state.slots, self.state.expecting == "appointment"
        carried = next((a for a in active if a.id == slots.get("appointment_id")), None)
        if carried is not None and not answering:
            return carried
        if len(active) == 1:
            return active[0]
        index = _ordinal(text) if answering else None
        if index is not None and -len(active) <= index < len(active):
            return active[index]
        candidates = _of_kind(active, str(slots.get("appointment_kind") or "")) or active
        day: date | None = slots.get("date")
        # When moving, a day in the request is where to move to; only in the answer to
        # "which one?" does it name the appointment (and is then no longer the new day).
        if day is not None and (task == "cancel_appointment" or answering):
            on_day = [a for a in candidates if a.starts_at.date() == day]
            if on_day and task == "move_appointment":
                slots.pop("date", None)
                slots.pop("time", None)
            candidates = on_day or candidates
        return candidates[0] if len(candidates) == 1 else None

    def _ask_which_appointment(self, task: str, active: list[AppointmentInfo]) -> TurnPlan:
        listed = [
            f"{_article(a.kind)} {a.kind} on {spoken_date(a.starts_at.date())} at "
            f"{spoken_time(a.starts_at)}"
            for a in active[:3]
        ]
        joined = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} and {listed[-1]}"
        count = COUNT_WORDS.get(len(active), str(len(active)))
        verb = "cancel" if task == "cancel_appointment" else "move"
        return self._ask(
            task,
            "appointment",
            f"You have {count} appointments: {joined}. Which one would you like to {verb}?",
        )

    def _schedule(self, task: str, kind: str, args: dict[str, Any]) -> TurnPlan:
        """Find a day and a free time, then confirm booking or moving there."""
        day: date | None = self.state.slots.get("date")
        if day is None:
            return self._ask(task, "date", "Which day would suit you?")
        slots = self._business.free_slots(day, kind)
        if not slots:
            self.state.slots.pop("date", None)
            return self._ask(
                task,
                "date",
                f"I'm sorry, there's nothing free on {spoken_date(day)}. Would another day work?",
            )
        wanted: time | None = self.state.slots.get("time")
        chosen = next((s for s in slots if wanted and s.time() == wanted), None)
        if chosen is None:
            offer = ", ".join(spoken_time(s) for s in slots[:3])
            prefix = f"{spoken_time(datetime.combine(day, wanted))} isn't free. " if wanted else ""
            self.state.slots.pop("time", None)
            return self._ask(
                task,
                "time",
                f"{prefix}On {spoken_date(day)} I have {offer}. Which time works for you?",
            )
        when = f"{spoken_date(day)} at {spoken_time(chosen)}"
        verb = "book you a" if task == "book_appointment" else "move your"
        return self._confirm(
            task, {**args, "starts_at": chosen}, f"Shall I {verb} {kind} on {when}?", {}
        )

    def _confirm(
        self, task: str, args: dict[str, Any], question: str, facts: dict[str, str]
    ) -> TurnPlan:
        self.state.pending = PendingAction(task, args, question)
        self.state.expecting = None
        return TurnPlan(task, say=question, facts=facts)

    def _run_action(self, pending: PendingAction) -> TurnPlan:
        b, a = self._business, pending.args
        customer_id = self.state.customer.id if self.state.customer else None
        if pending.name == "start_return":
            result = b.start_return(a["order_number"], a["reason"], customer_id=customer_id)
        elif pending.name == "block_card":
            result = b.block_card(a["customer_id"], a["last4"])
        elif pending.name == "book_appointment":
            result = b.book_appointment(a["customer_id"], a["starts_at"], a["kind"])
        elif pending.name == "move_appointment":
            result = b.move_appointment(
                a["appointment_id"], a["starts_at"], customer_id=a["customer_id"]
            )
        else:
            result = b.cancel_appointment(a["appointment_id"], customer_id=a["customer_id"])
        self.state.task = None
        if result.ok:
            self.state.done.append(result.message.rstrip("."))
        elif result.facts.get("reason") == "which_card":
            self.state.task = "block_card"
            self.state.expecting = "card_last4"
        elif result.facts.get("reason") == "slot_unavailable":
            # Taken since it was offered (another call got it): the next time said is for
            # the same booking, among the alternatives the message offers.
            self.state.task, self.state.expecting = pending.name, "time"
            self.state.slots.pop("time", None)
        return self._result_plan(pending.name, result, pending.name)

    def _result_plan(self, intent: str, result: ActionResult, key: str) -> TurnPlan:
        return TurnPlan(
            intent,
            say=result.message,
            facts=dict(result.facts),
            failed=not result.ok,
            request_key=None if result.ok else key,
        )

    def _ask(self, task: str, slot: str, question: str) -> TurnPlan:
        self.state.task, self.state.expecting = task, slot
        return TurnPlan(task, say=question)

    def _unknown_caller(self, task: str) -> TurnPlan:
        self.state.task = None
        return TurnPlan(
            task,
            failed=True,
            request_key=f"{task}:unknown_caller",
            say="I can't find an account for the number you're calling from, so "
            "I can't do that here. I can connect you to a person who can "
            "check who you are.",
        )

    def _order_facts_if_any(self) -> dict[str, str]:
        number = self.state.slots.get("order_number") or self.state.suggested_order
        order = self._find_order(str(number)) if number else None
        return self._order_facts(order) if order else {}

    def _known_orders(self) -> list[str]:
        mentioned = list(self.state.orders_mentioned)
        if self.state.customer:
            mentioned += [o.number for o in self._business.orders_for(self.state.customer.id)]
        return list(dict.fromkeys(mentioned))

    def _active_cards(self) -> list[str]:
        customer = self.state.customer
        cards = self._business.cards_for(customer.id) if customer else []
        return [c.last4 for c in cards if c.status == "active"]

    def _remember_orders(self, numbers: list[str]) -> None:
        for number in numbers:
            if number not in self.state.orders_mentioned:
                self.state.orders_mentioned.append(number)

    def _note_topic(self, intent: str) -> None:
        if intent not in self.state.topics:
            self.state.topics.append(intent)

    # -- tools (a capable LLM drives the same tasks) ------------------------------------
    def plan_task(self, name: str, args: dict[str, Any]) -> TurnPlan:
        """Run a task the LLM asked for by name, with its arguments as the caller's values."""
        if name == "search_policies":
            return self._knowledge_answer("policy_question", str(args.get("question", "")))
        values = _tool_values(args)
        self.state.task = name if name in TASK_HANDLERS else None
        if self.state.task is None:
            return TurnPlan(name, failed=True, say="I can't do that.")
        self.state.slots.update(values)
        self.state.expecting = None
        return TASK_HANDLERS[name](self, Understanding(name, 1.0, values, "tool"), "")

    # -- the call's end ------------------------------------------------------------------
    def outcome(self, escalated: bool) -> str:
        if escalated:
            return "escalated"
        return "resolved" if self.state.done else "abandoned"

    def topics(self) -> list[str]:
        return list(self.state.topics)

    def summary(self) -> str:
        who = self.state.customer.name if self.state.customer else "Unknown caller"
        if not self.state.done:
            topics = ", ".join(t.replace("_", " ") for t in self.state.topics) or "nothing"
            return f"{who} called about {topics}; nothing was looked up or changed."
        return f"{who}: " + "; ".join(dict.fromkeys(self.state.done)) + "."


def _one_digit_apart(a: str, b: str) -> bool:
    """One digit inserted, dropped or changed (edit distance 1)."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _ordinal(text: str) -> int | None:
    """0 for 'the first one', 1 for 'the second', -1 for 'the last'; None when none is said."""
    lowered = text.lower()
    return next((index for pattern, index in ORDINALS if pattern.search(lowered)), None)


def _of_kind(appointments: list[AppointmentInfo], said: str) -> list[AppointmentInfo]:
    """Those of the kind the caller named: exactly ('dental check-up'), else by the words
    people leave out ('cleaning' for 'dental cleaning'); [] when none or nothing was named."""
    key = kind_key(said)
    if not key:
        return []
    exact = [a for a in appointments if kind_key(a.kind) == key]
    return exact or [a for a in appointments if kind_key(a.kind).endswith(key)]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _tool_values(args: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments (JSON strings) as the typed values understanding would produce."""
    values: dict[str, Any] = {}
    for key in ("order_number", "card_last4", "account_kind", "appointment_kind", "reason"):
        if args.get(key):
            values[key] = str(args[key])
    try:
        if args.get("date"):
            values["date"] = date.fromisoformat(str(args["date"]))
        if args.get("time"):
            values["time"] = time.fromisoformat(str(args["time"]))
    except ValueError:
        pass  # a malformed date is treated as missing: the agent asks for it
    return values


def _split_sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text)


TASK_HANDLERS = {
    "order_status": TurnManager._order_status,
    "start_return": TurnManager._start_return,
    "complaint": TurnManager._complaint,
    "account_balance": TurnManager._account_balance,
    "block_card": TurnManager._block_card,
    "transfer_money": TurnManager._transfer_money,
    "book_appointment": TurnManager._book_appointment,
    "move_appointment": TurnManager._move_appointment,
    "cancel_appointment": TurnManager._cancel_appointment,
    "opening_hours": TurnManager._policy,
    "policy_question": TurnManager._policy,
}
