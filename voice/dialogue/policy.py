"""The agent's next move for one caller turn: answer the open question, or take up a request.

The order of decisions, each a careful human agent's habit:

1. A request for a person (any wording, the keypad's 0) is handed over at once.
2. The question the agent asked in its last turn, if any, is answered first: a yes to "Shall I
   block your card ending 7733?" runs exactly that; a no drops it; a correction revises what it
   named and asks again; a value fills the slot that was asked for. A turn that answers none of
   that moves on, and the question lapses: it never waits for a later "yes".
3. Otherwise the turn's requests are taken in the order said, each by its business line's task.
   A request read with low confidence gets a short question back, never a guess that acts.
4. A turn that asks for nothing (thanks, hello, "hang on", "what?") gets the reply a person
   would give.

No pipecat here, and no English about business facts: the tasks word those.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from voice.business import Business
from voice.dialogue import appointments, banking, orders, policies
from voice.dialogue.classifier import TurnClassifier
from voice.dialogue.knowledge import KnowledgeBase, Passage
from voice.dialogue.plan import OFFER_PERSON, TaskContext, TurnPlan
from voice.dialogue.slots import SlotContext
from voice.dialogue.state import ACTIONS, DialogueState, Question
from voice.dialogue.understanding import LINE_OF, Reader, Reading
from voice.store.history import CallerProfile, as_context

# Below this the agent asks what the caller means instead of acting on its best guess.
CLARIFY_BELOW = 0.45
# A request that would end in an offer to change something needs more certainty than a look-up.
ACTION_FROM = 0.6
# A person is asked for: hand over from this probability (a missed request costs more than an
# early hand-over, and upset callers are caught by the sentiment policy anyway).
PERSON_FROM = 0.4
HAND_OVER = "Of course. I'm putting you through to a colleague now, a real person who can help."
CAPABILITIES = (
    "I can check an order or start a return, give you your balance or block a card, and book, "
    "move or cancel a clinic appointment."
)

TASKS: dict[str, Callable[[TaskContext], TurnPlan]] = {
    **orders.TASKS,
    **banking.TASKS,
    **appointments.TASKS,
    **policies.TASKS,
}
# How a clarifying question names an intent ("Is it about <A> or <B>?").
ABOUT = {
    "order_status": "where an order is",
    "order_tracking": "an order's tracking number",
    "order_details": "what was in an order",
    "order_cancel": "cancelling an order",
    "order_change": "changing an order",
    "order_missing": "a missing parcel or item",
    "return_request": "returning something",
    "return_status": "a return or refund you've started",
    "shop_product": "buying something",
    "account_balance": "your balance",
    "card_block": "blocking a card",
    "card_unblock": "unblocking a card",
    "card_status": "your card's status",
    "card_replace": "a replacement card",
    "transfer_money": "moving money",
    "transaction_dispute": "a payment you don't recognise",
    "transaction_history": "your transactions",
    "pin_help": "your PIN",
    "bank_product": "opening an account or a loan",
    "appointment_book": "booking an appointment",
    "appointment_move": "moving an appointment",
    "appointment_cancel": "cancelling an appointment",
    "appointment_info": "when your appointment is",
    "prescription": "a prescription",
    "test_results": "test results",
    "medical_advice": "medical advice",
    "opening_hours": "opening hours",
    "location": "where we are",
    "policy_question": "our policies",
    "complaint": "a complaint",
    "callback_request": "a call back",
    "update_details": "your contact details",
}


@lru_cache(maxsize=4)
def shared_reader(encoder: Any) -> Reader:
    """One trained reader per process (per embedding model)."""
    return Reader(TurnClassifier.load(encoder))


class TurnManager:
    """One call's dialogue: reads each caller turn and plans the agent's reply."""

    def __init__(
        self,
        business: Business,
        knowledge: KnowledgeBase,
        embedder: Any,
        profile: CallerProfile | None,
        caller: str,
        *,
        compose_answers: bool = False,
        today: date | None = None,
        reader: Reader | None = None,
    ) -> None:
        self._business, self._knowledge, self._embedder = business, knowledge, embedder
        self._reader = reader or shared_reader(embedder)
        self._compose = compose_answers
        self._limit_said = ""
        self._topic_before: str | None = None
        self._today = today
        self.state = DialogueState(customer=business.customer_by_phone(caller), profile=profile)

    # -- the conversation's frame --------------------------------------------------------
    def greeting(self, default: str) -> str:
        """The first words; a known caller with one order on its way is asked whether that is
        it, and a plain "yes" to that is a question about the order."""
        profile = self.state.profile
        if profile is None or not profile.greeting_hint:
            return default
        if len(profile.open_orders) == 1:
            number = profile.open_orders[0].number
            self.state.question = Question(
                "clarify",
                options=["order_status"],
                args={"order_number": number},
                text=profile.greeting_hint,
            )
        return f"Thanks for calling Acme support, this is Sam. {profile.greeting_hint}"

    def offer_human(self, intent: str, question: str) -> TurnPlan:
        """Offer a person (e.g. to a caller speaking another language); a yes accepts."""
        self.state.question = Question("offer_person", task=intent, text=question)
        self.state.note_topic(intent)
        return TurnPlan(intent, say=question, question="offer_person")

    def caller_context(self) -> str:
        return as_context(self.state.profile)

    def forbid(self, action: str) -> bool:
        """A supervisor forbids `action` for the rest of the call (the live console's "block");
        False when it is not an action the agent could take."""
        if action not in ACTIONS:
            return False
        self.state.blocked.add(action)
        return True

    @property
    def expecting(self) -> str | None:
        question = self.state.question
        return question.expecting if question else None

    def today(self) -> date:
        return self._today or self.now().date()

    def now(self) -> datetime:
        """The business's clock (pinned in rehearsals)."""
        return self._business.now()

    # -- one turn ------------------------------------------------------------------------
    def anticipate(self, text: str) -> None:
        """The caller paused after `text`: prepare what reading it will need, changing nothing
        in the dialogue (the caller may speak on)."""
        self._reader.anticipate(text)

    def handle(self, text: str, dtmf: str = "") -> TurnPlan:
        state = self.state
        state.turn += 1
        question, state.question = state.question, None  # it lives for this turn only
        self._limit_said, state.limit = state.limit, ""  # likewise the last "I can't"
        self._topic_before = state.last_task
        reading = self._reader.read(text, self._slot_context(question), dtmf, topic=state.last_task)
        plan = self._decide(reading, question)
        state.ended_politely = reading.act in ("goodbye", "thanks")
        plan.values = {k: str(v) for k, v in reading.values.items()}
        plan.act, plan.confidence = reading.act, round(reading.confidence, 3)
        # The LLM may word a reply only where no exact words matter: never a confirmation (it
        # must name the action and its object) and never the hand-over line.
        plan.use_llm = (
            self._compose and plan.question != "confirm" and not plan.wants_human and not plan.does
        )
        for intent in reading.requests or [plan.intent]:
            if intent in TASKS or intent in ("speak_to_human", "complaint"):
                state.note_topic(intent)
        if plan.say:
            state.last_reply = plan.say
        return plan

    def _slot_context(self, question: Question | None) -> SlotContext:
        customer = self.state.customer
        items: list[tuple[str, str]] = []
        if customer:
            items = [
                (o.number, item["name"])
                for o in self._business.orders_for(customer.id)
                for item in o.items
            ]
        offered = [
            o.time() for o in (question.options if question else []) if isinstance(o, datetime)
        ]
        return SlotContext(
            today=self.today(),
            expecting=question.expecting if question else None,
            intent=(question.task if question else None) or self.state.task,
            items=items,
            doctors=self._business.doctors(),
            kinds=self._business.appointment_kinds(),
            offered_times=offered,
        )

    def _context(self, reading: Reading) -> TaskContext:
        return TaskContext(
            self.state,
            self._business,
            self._knowledge,
            reading,
            self.today(),
            self.now,
            self._extract_answer,
            self._topic_before,
        )

    def _decide(self, reading: Reading, question: Question | None) -> TurnPlan:
        if self._wants_person(reading, question):
            return TurnPlan("speak_to_human", say=HAND_OVER, wants_human=True)
        if question is not None:
            plan = self._answer(reading, question)
            if plan is not None:
                return plan
        return self._take_up(reading)

    def _wants_person(self, reading: Reading, question: Question | None) -> bool:
        if "speak_to_human" in reading.negated:
            return False
        if reading.intent == "speak_to_human" and reading.confidence >= PERSON_FROM:
            return True
        if "speak_to_human" in reading.requests:
            return True
        return bool(
            question
            and question.kind == "offer_person"
            and reading.act == "yes"
            and not reading.requests
        )

    # -- the open question -----------------------------------------------------------------
    def _answer(self, reading: Reading, question: Question) -> TurnPlan | None:
        """The reply to an answer; None when the turn does not answer the question."""
        handler = {
            "confirm": self._answer_confirm,
            "offer_person": self._answer_offer,
            "slot": self._answer_slot,
            "choose": self._answer_slot,
            "clarify": self._answer_clarify,
        }[question.kind]
        return handler(reading, question)

    def _answer_confirm(self, reading: Reading, question: Question) -> TurnPlan | None:
        action = question.action
        assert action is not None
        says_yes = reading.act == "yes" and action not in _negated_actions(reading)
        if says_yes and action in self.state.blocked:  # a supervisor forbade it on this call
            self.state.forget_task()
            return TurnPlan(
                question.task or "none",
                say=f"I'm sorry, I can't {_verb(action)} on this call. "
                "Is there anything else I can help with?",
            )
        other = [r for r in reading.requests if r != question.task]
        if says_yes and _revises(reading, question):
            # "Yes please, the twenty-sixth at ten" to a question about the 12th: not a yes to
            # what was asked, but a new value; ask again with it.
            self._revise(reading, question)
            return self._run_task(question.task or "none", reading)
        if says_yes and not (
            other
            and reading.intent in other
            and reading.confidence > 0.8
            and not _short(reading.text)
        ):
            plan = TASKS_RUN[action](self._context(reading), question)
            self.state.actions.append(action)
            return self._and_then(plan, reading, skip=question.task)
        if reading.act == "no" or action in _negated_actions(reading):
            self.state.forget_task()
            plan = TurnPlan(question.task or "none", say=f"Okay, I won't {_verb(action)}.")
            if reading.requests and reading.requests != [question.task]:
                return plan.then(self._take_up(reading))
            plan.say += " Is there anything else I can help with?"
            return plan
        if reading.act == "correction" or (reading.values and not other):
            # "Wait, the other card" / "make it ten thirty": the same task with what was
            # revised; it asks again before anything happens.
            self._revise(reading, question)
            return self._run_task(question.task or "none", reading)
        if reading.act in ("unsure", "wait"):
            self.state.forget_task()
            return TurnPlan(
                question.task or "none",
                say=f"No problem, I won't {_verb(action)} for now. Just tell me "
                "if you'd like me to, or if there's anything else.",
            )
        return None  # something else entirely: the question lapses

    def _answer_offer(self, reading: Reading, question: Question) -> TurnPlan | None:
        if reading.act == "no" and not reading.requests:
            return TurnPlan(
                question.task or "none", say="Okay. Is there anything else I can help with?"
            )
        return None

    def _answer_slot(self, reading: Reading, question: Question) -> TurnPlan | None:
        task = question.task or "none"
        picked = self._pick(reading, question)
        new_task = [r for r in reading.requests if r != task and r not in ("none",)]
        if picked is not None:
            self.state.slots.update(picked)
            return self._run_task(task, reading)
        if new_task and reading.confidence >= CLARIFY_BELOW:
            return None  # the caller moved on to something else
        if reading.act in ("goodbye", "thanks") and not reading.values:
            # "Great, thanks, bye" to "which one?": the caller is done with it, not answering.
            self.state.forget_task()
            return self._conversation(reading)
        if reading.act in ("wait", "unsure"):
            self.state.question = question  # still waiting for it
            return TurnPlan(task, say="Sure, take your time.", question=question.kind)
        if reading.act == "no":
            self.state.forget_task()
            return TurnPlan(task, say="Okay. Is there anything else I can help with?")
        if question.tries >= 1:  # asked twice without an answer: a person can sort it out
            return self._context(reading).offer_person(task, "Sorry, I'm still not getting it.")
        plan = TurnPlan(
            task,
            say=f"Sorry, I didn't catch that. {question.text}",
            failed=True,
            request_key=f"{task}:{question.slot}",
        )
        question.tries += 1
        self.state.question = question
        self.state.task = task
        plan.question = question.kind
        return plan

    def _answer_clarify(self, reading: Reading, question: Question) -> TurnPlan | None:
        options = [o for o in question.options if isinstance(o, str)]
        chosen = next((r for r in reading.requests if r in options), None)
        index = _ordinal(reading.text) if len(options) > 1 else None
        if chosen is None and index is not None and -len(options) <= index < len(options):
            chosen = options[index]
        if chosen is None and reading.act == "yes" and options:
            chosen = options[0]
        if chosen is None:
            return None
        if "order_number" in question.args and chosen in TASKS:  # the greeting's open order
            self.state.slots["order_number"] = question.args["order_number"]
        reading.values = {**question.args, **reading.values}
        reading.requests = [chosen, *[r for r in reading.requests if r != chosen]]
        reading.intent, reading.confidence = chosen, 1.0
        return self._take_up(reading)

    def _pick(self, reading: Reading, question: Question) -> dict[str, Any] | None:
        """The slot value the answer gives, or the option it picks; None when it gives none."""
        values, slot = reading.values, question.slot or ""
        if question.kind == "slot":
            if slot in values:
                return {slot: values[slot]}
            if slot == "order_number" and "item_order" in values:
                return {"order_number": values["item_order"]}
            if slot in ("date", "time") and {"date", "time", "part_of_day"} & values.keys():
                return {k: values[k] for k in ("date", "time", "part_of_day") if k in values}
            if slot == "appointment_kind" and "appointment_kind" in values:
                return {slot: values["appointment_kind"]}
            if slot == "place":
                place = policies.place_in(reading.text)
                return {"place": place} if place else None
            return None
        if slot == "time" and ("time" in values or "date" in values):
            # "Morning, like half nine?": a time of their own (the task checks it is free).
            return {k: values[k] for k in ("date", "time", "part_of_day") if k in values}
        return pick_option(reading, question.options, slot)

    def _revise(self, reading: Reading, question: Question) -> None:
        """A correction of a confirmation: the values said replace those the question named,
        and "the other one" swaps the object for the one not chosen."""
        slots = self.state.slots
        slots.update(reading.values)
        if re.search(r"\b(other|another|different|not (that|this) one)\b", reading.text, re.I):
            for key in ("card_last4", "order_number", "appointment_id"):
                if key in question.args and key not in reading.values:
                    slots[f"not_{key}"] = question.args[key]
                    slots.pop(key, None)

    # -- requests ------------------------------------------------------------------------
    def _take_up(self, reading: Reading) -> TurnPlan:
        redo = self._redo_with_correction(reading)
        if redo is not None:
            return redo
        requests = [r for r in reading.requests if r in TASKS or r in NON_TASKS]
        if reading.act == "no":  # "No, the card's fine": never read as asking for the action
            requests = [r for r in requests if r not in ASKING]
        if not requests:
            return self._conversation(reading)
        unsure = reading.confidence < CLARIFY_BELOW or (
            requests[0] in ASKING
            and reading.intent == requests[0]
            and reading.confidence < ACTION_FROM
        )
        if unsure and len(requests) == 1:
            return self._clarify(reading)
        self.state.queue = []
        return self._run_requests(requests, reading)

    def _redo_with_correction(self, reading: Reading) -> TurnPlan | None:
        """ "No, the other one then, the candles": the task just done, for what is named now
        (unless the correction asks for something of another line altogether)."""
        last = self.state.last_task
        correcting = reading.act == "correction" or (_other(reading) and reading.act != "yes")
        if not correcting or last not in TASKS or not reading.values:
            return None
        if reading.intent in TASKS and LINE_OF.get(reading.intent) != LINE_OF.get(last):
            return None
        self._revise(reading, Question("confirm", args=_focus(self.state)))
        return self._run_task(last, reading)

    def _run_requests(
        self, requests: list[str], reading: Reading, plan: TurnPlan | None = None
    ) -> TurnPlan:
        """Several requests of one turn: what can be answered at once is answered first, in
        the order said; the first one that needs a question from the caller comes last, and
        any after it wait until that question is settled."""
        ordered = [r for r in requests if r not in ASKING] + [r for r in requests if r in ASKING]
        offer: Question | None = None  # "shall I put you through?" waits for the others
        for index, intent in enumerate(ordered):
            question = self.state.question
            if question is not None and question.kind == "offer_person":
                offer, self.state.question = question, None
                if plan is not None:
                    plan.say = plan.say.replace(OFFER_PERSON, "").strip()
                    plan.question = None
            elif question is not None:
                self.state.queue.extend(ordered[index:])
                break
            step = self._run_task(intent, reading)
            plan = step if plan is None else plan.then(step)
        assert plan is not None
        if offer is not None and self.state.question is None:
            self.state.question = offer
            if OFFER_PERSON not in plan.say:
                plan.say = f"{plan.say} {OFFER_PERSON}"
            plan.question = "offer_person"
        return plan

    def _and_then(self, plan: TurnPlan, reading: Reading, skip: str | None) -> TurnPlan:
        """Requests of an earlier turn that waited for a question to be settled."""
        waiting = [r for r in self.state.queue if r != skip]
        self.state.queue = []
        if not waiting or self.state.question is not None:
            self.state.queue = waiting
            return plan
        return self._run_requests(waiting, reading, plan)

    def _run_task(self, intent: str, reading: Reading) -> TurnPlan:
        if intent in NON_TASKS:
            return NON_TASKS[intent](self, reading)
        self.state.last_task = intent
        if self.state.task != intent:
            self.state.task = intent
        plan = TASKS[intent](self._context(reading))
        return plan

    def _clarify(self, reading: Reading) -> TurnPlan:
        values = reading.values
        if (values.get("item_order") or values.get("order_number")) and not any(
            i in ASKING for i, p in reading.alternatives[:1]
        ):
            # Unsure what they want, but they named one of their orders: what it is doing is
            # the answer that helps most and changes nothing.
            return self._run_task("order_status", reading)
        ranked = [i for i, p in reading.alternatives if i in ABOUT and p >= 0.12][:2]
        context = self._context(reading)
        kept = {k: v for k, v in values.items() if k in FOCUS_VALUES}
        plan = self._clarify_question(context, ranked)
        if self.state.question is not None:
            self.state.question.args = kept  # the answer picks the task; these stay with it
        return plan

    def _clarify_question(self, context: TaskContext, ranked: list[str]) -> TurnPlan:
        if len(ranked) == 2:
            return context.clarify(
                ranked,
                f"Sorry, just so I get it right: is it about "
                f"{ABOUT[ranked[0]]}, or {ABOUT[ranked[1]]}?",
            )
        if len(ranked) == 1:
            return context.clarify(ranked, f"Sorry, just to check: is it about {ABOUT[ranked[0]]}?")
        return context.clarify(
            [],
            "Sorry, I'm not sure I understood. Is it about an order, "
            "your bank account or card, or a clinic appointment?",
        )

    def _conversation(self, reading: Reading) -> TurnPlan:
        """A turn that asks for nothing: the reply its act calls for."""
        act, state = reading.act, self.state
        if act == "goodbye":
            state.resolved = state.resolved or bool(state.done)
            return TurnPlan("goodbye", say="Thanks for calling Acme. Goodbye!", hang_up=True)
        if act == "thanks":
            return TurnPlan("thanks", say="You're welcome. Is there anything else I can help with?")
        if act == "repeat" and state.last_reply:
            return TurnPlan("repeat", say=state.last_reply)
        if act == "wait":
            return TurnPlan("wait", say="Sure, take your time.")
        if act == "greeting":
            return TurnPlan("greeting", say="Hi! How can I help you today?")
        if act == "chitchat":
            return TurnPlan(
                "chitchat", say="I'm doing well, thanks for asking. How can I help you today?"
            )
        if act == "correction" and state.last_task and (reading.values or _other(reading)):
            self._revise(reading, Question("confirm", args=_focus(state)))
            return self._run_task(state.last_task, reading)
        if reading.values and state.last_task in TASKS and act not in ("no", "goodbye"):
            # "And the savings?", "what about the 4521 one?": the same question, new values.
            return self._run_task(state.last_task, reading)
        if act in ("request", "no", "correction") and self._limit_said:
            # "Can't you just read it out?": the limit stands; say so again, kindly.
            return self._context(reading).offer_person(
                state.last_task or "none", "I'm sorry, I really can't do that on this line."
            )
        if act in ("yes", "no"):
            return TurnPlan(act, say="Okay. What can I help you with? " + CAPABILITIES)
        if act == "unsure":
            return TurnPlan("unsure", say="No problem. " + CAPABILITIES)
        if reading.values.get("order_number") or reading.values.get("item_order"):
            reading.requests = ["order_status"]
            return self._run_task("order_status", reading)
        return self._clarify(reading)

    def _extract_answer(self, question: str, passages: list[Passage]) -> str:
        return policies.answer_sentences(question, passages, self._embedder, self.today())

    # -- tools (a capable LLM drives the same tasks, inside the same rules) -----------------
    def plan_task(self, name: str, args: dict[str, Any]) -> TurnPlan:
        """Run a task the LLM asked for by name; actions only ever ask for confirmation."""
        if name == "search_policies":
            reading = Reading(
                str(args.get("question", "")),
                "request",
                1.0,
                "policy_question",
                1.0,
                requests=["policy_question"],
            )
            return self._run_task("policy_question", reading)
        intent = TOOL_INTENTS.get(name, name)
        if intent not in TASKS:
            return TurnPlan(name, failed=True, say="I can't do that.")
        values = _tool_values(args)
        reading = Reading("", "request", 1.0, intent, 1.0, requests=[intent], values=values)
        self.state.slots.update(values)
        return self._run_task(intent, reading)

    # -- the call's end ------------------------------------------------------------------
    def outcome(self, escalated: bool) -> str:
        """Resolved: the caller got what they asked for, or was told plainly why it cannot be
        and ended the call with thanks or goodbye. Abandoned: they left with it still open."""
        if escalated:
            return "escalated"
        state = self.state
        settled = state.refused and state.ended_politely
        return "resolved" if state.resolved or state.done or settled else "abandoned"

    def topics(self) -> list[str]:
        return list(self.state.topics)

    def summary(self) -> str:
        who = self.state.customer.name if self.state.customer else "Unknown caller"
        if not self.state.done:
            topics = ", ".join(t.replace("_", " ") for t in self.state.topics) or "nothing"
            return f"{who} called about {topics}; nothing was looked up or changed."
        return f"{who}: " + "; ".join(dict.fromkeys(self.state.done)) + "."


def _person(manager: TurnManager, reading: Reading) -> TurnPlan:
    return TurnPlan("speak_to_human", say=HAND_OVER, wants_human=True)


def _complaint(manager: TurnManager, reading: Reading) -> TurnPlan:
    """An apology; and when the caller names what it is about, what the data says of it."""
    values, about = reading.values, None
    if values.get("order_number") or values.get("item_order"):
        about = "order_status"
    elif values.get("appointment_kind"):
        about = "appointment_info"
    elif values.get("card_last4"):
        about = "card_status"
    sorry = TurnPlan("complaint", say="I'm sorry about that, I understand it's frustrating.")
    if about is not None:
        plan = sorry.then(manager._run_task(about, reading))
        if manager.state.question is None:
            plan = plan.then(manager._context(reading).offer_person("complaint", "", failed=False))
        plan.intent = "complaint"
        return plan
    return manager._context(reading).offer_person("complaint", sorry.say, failed=False)


def _callback(manager: TurnManager, reading: Reading) -> TurnPlan:
    manager.state.done.append("asked for a call back")
    manager.state.resolved = True
    return TurnPlan(
        "callback_request",
        wants_callback=True,
        say="Of course. I've asked a colleague to call you back on this number as "
        "soon as they can. Is there anything else I can help with?",
    )


def _bot(manager: TurnManager, reading: Reading) -> TurnPlan:
    return TurnPlan(
        "bot_question",
        say="I'm Sam, Acme's automated assistant. "
        + CAPABILITIES
        + " If you'd rather talk to a colleague, just say so.",
    )


def _out_of_scope(manager: TurnManager, reading: Reading) -> TurnPlan:
    return TurnPlan(
        "out_of_scope",
        failed=True,
        say="Sorry, I can only help with Acme orders, banking and clinic "
        "appointments. " + CAPABILITIES,
    )


NON_TASKS: dict[str, Callable[[TurnManager, Reading], TurnPlan]] = {
    "speak_to_human": _person,
    "complaint": _complaint,
    "callback_request": _callback,
    "bot_question": _bot,
    "out_of_scope": _out_of_scope,
}
TASKS_RUN = {
    "block_card": banking.run_block,
    "start_return": orders.run_return,
    "book_appointment": appointments.run_book,
    "move_appointment": appointments.run_move,
    "cancel_appointment": appointments.run_cancel,
}
# The LLM's tool names (voice.dialogue.tools) and the intents they run.
TOOL_INTENTS = {
    "order_status": "order_status",
    "start_return": "return_request",
    "account_balance": "account_balance",
    "block_card": "card_block",
    "book_appointment": "appointment_book",
    "move_appointment": "appointment_move",
    "cancel_appointment": "appointment_cancel",
}
_VERBS = {
    "block_card": "block the card",
    "start_return": "start the return",
    "book_appointment": "book it",
    "move_appointment": "move it",
    "cancel_appointment": "cancel it",
}
_ACTION_OF = {
    "card_block": "block_card",
    "return_request": "start_return",
    "appointment_book": "book_appointment",
    "appointment_move": "move_appointment",
    "appointment_cancel": "cancel_appointment",
}


def _revises(reading: Reading, question: Question) -> bool:
    """Does the answer name a value other than the one the question was about?"""
    args, values = question.args, reading.values
    starts = args.get("starts_at")
    if isinstance(starts, datetime):
        if values.get("date") and values["date"] != starts.date():
            return True
        if values.get("time") and values["time"] != starts.time():
            return True
    for key in ("card_last4", "order_number"):
        if values.get(key) and args.get(key) and str(values[key]) != str(args[key]):
            return True
    return False


def _verb(action: str) -> str:
    return _VERBS.get(action, "do that")


def _negated_actions(reading: Reading) -> set[str]:
    return {_ACTION_OF[i] for i in reading.negated if i in _ACTION_OF}


def _short(text: str) -> bool:
    return len(text.split()) <= 3


def _other(reading: Reading) -> bool:
    return bool(re.search(r"\b(other|another|different)\b", reading.text, re.I))


def _focus(state: DialogueState) -> dict[str, Any]:
    return {
        k: state.slots[k]
        for k in ("order_number", "card_last4", "appointment_id")
        if k in state.slots
    }


# Values a clarifying question keeps for the answer ("the air fryer": still that item after "is
# it about returning something?").
FOCUS_VALUES = frozenset(
    {
        "order_number",
        "item_order",
        "item",
        "card_last4",
        "appointment_kind",
        "date",
        "time",
        "part_of_day",
        "account_kind",
        "doctor",
    }
)
# Tasks that may end in a confirmation question; in a turn with several requests they go last.
ASKING = frozenset(
    {"card_block", "return_request", "appointment_book", "appointment_move", "appointment_cancel"}
)
ORDINALS = [
    (re.compile(r"\b(first|former|earlier|earliest|sooner|soonest)\b", re.I), 0),
    (re.compile(r"\b(second|latter|later)\b", re.I), 1),
    (re.compile(r"\bthird\b", re.I), 2),
    (re.compile(r"\b(last|latest)\b", re.I), -1),
]


def _ordinal(text: str) -> int | None:
    return next((index for pattern, index in ORDINALS if pattern.search(text)), None)


def pick_option(reading: Reading, options: list[Any], slot: str) -> dict[str, Any] | None:
    """Which listed option the answer names: by its value, by an item or kind in it, by
    position ("the first one"), or "the other one" of two."""
    values = reading.values
    keyed = {
        "order_number": values.get("order_number") or values.get("item_order"),
        "card_last4": values.get("card_last4") or _last4(values.get("number")),
        "time": values.get("time"),
    }.get(slot)
    for option in options:
        if keyed is not None and _option_key(option, slot) == keyed:
            return {slot: keyed}
    matched = [o for o in options if _matches(o, values)]
    if len(matched) == 1:
        return {slot: _option_key(matched[0], slot)}
    index = _ordinal(reading.text)
    if index is not None and -len(options) <= index < len(options):
        return {slot: _option_key(options[index], slot)}
    if slot == "time" and keyed is None and values.get("part_of_day"):
        within = [o for o in options if _part_of_day(o) == values["part_of_day"]]
        if within:
            return {slot: _option_key(within[0], slot)}
    return None


def _last4(number: Any) -> str | None:
    return str(number)[-4:] if number and len(str(number)) >= 4 else None


def _option_key(option: Any, slot: str) -> Any:
    if slot == "time" and isinstance(option, datetime):
        return option.time()
    if hasattr(option, "number"):
        return option.number
    if hasattr(option, "last4"):
        return option.last4
    if hasattr(option, "id"):
        return option.id
    return option


def _matches(option: Any, values: dict[str, Any]) -> bool:
    """Does what the caller said describe this option (an appointment's kind or day)?"""
    if hasattr(option, "kind") and hasattr(option, "starts_at"):
        kind, day = values.get("appointment_kind"), values.get("date")
        if kind and day:
            return bool(option.kind == kind and option.starts_at.date() == day)
        if kind:
            return bool(option.kind == kind)
        if day:
            return bool(option.starts_at.date() == day)
    if hasattr(option, "number") and values.get("item_order"):
        return bool(option.number == values["item_order"])
    return False


def _part_of_day(option: Any) -> str | None:
    if not isinstance(option, datetime):
        return None
    return "morning" if option.hour < 12 else "afternoon" if option.hour < 17 else "evening"


def _tool_values(args: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments (JSON strings) as the typed values understanding would produce."""
    from datetime import time

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


__all__ = ["OFFER_PERSON", "TurnManager", "TurnPlan"]
