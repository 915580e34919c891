"""One call's conversation, turn by turn, without audio: a caller turn in, the agent's reply out.

The same path serves a phone call (the pipeline's responder speaks what comes out) and a text
rehearsal (`callcentre eval --text`, `callcentre chat`): understanding and dialogue state (the
turn manager), sentiment and the escalation policy (the hand-over observer), and the wording
of the reply. A reply is complete before any of it is spoken: a prepared reply as it is, or an
LLM's wording checked whole by the fact guard, so a caller never hears a sentence that a later
one contradicts or that the guard would have stopped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from voice.dialogue.fact_guard import build_fallback_reply, check_reply
from voice.dialogue.policy import TurnManager, TurnPlan
from voice.dialogue.tools import TOOLS, ToolRunner
from voice.engines.llm import LanguageModel, Message
from voice.logs import get_logger
from voice.privacy import mask_secrets
from voice.prompts import load_prompt
from voice.session import CallSession

log = get_logger(__name__)

HISTORY_MESSAGES = 6  # earlier turns the LLM sees
# A model that has said nothing by then is slow or down: the prepared reply is said instead,
# so the caller never waits in silence on it.
FIRST_TOKEN_TIMEOUT_S = 1.5
REPLY_TIMEOUT_S = 4.0
MAX_SENTENCES = 3


@dataclass
class Handover:
    say: str  # what the caller hears first
    after: Callable[[], Awaitable[str | None]]  # the move; returns a last line if it failed


# Called with every planned turn (plan, caller's words, keypad digits); returns a hand-over
# when the call goes to a person (the escalation policy and the transfer live outside).
PlanObserver = Callable[[TurnPlan, str, str], Awaitable[Handover | None]]


@dataclass
class AgentReply:
    text: str
    plan: TurnPlan | None = None
    hang_up: bool = False
    after: Callable[[], Awaitable[str | None]] | None = None
    composed: bool = False  # worded by the LLM (and passed the guard)
    first_token_s: float | None = None
    problems: list[str] = field(default_factory=list)


class Conversation:
    def __init__(
        self,
        session: CallSession,
        turns: TurnManager,
        llm: LanguageModel | None,
        observer: PlanObserver | None = None,
        *,
        llm_replies: bool = False,
        warm_up: Callable[[str], None] | None = None,
    ) -> None:
        """`warm_up(text)`: what else reads a caller's words (sentiment) prepares for them."""
        self._session, self._turns, self._llm, self._observer = session, turns, llm, observer
        self._warm_up = warm_up
        # Templated replies unless the deployment asks the LLM to word them (measured in
        # docs/understanding.md: the packaged model words worse than the templates).
        self._llm_replies = llm_replies
        self.messages: list[Message] = [{"role": "system", "content": load_prompt("system")}]

    @property
    def turns(self) -> TurnManager:
        return self._turns

    def greeting(self) -> str:
        return self._turns.greeting(load_prompt("greeting"))

    def anticipate(self, text: str) -> None:
        """The caller paused after saying `text`, and may say no more: prepare the reading of
        it (the embeddings), so that the reply at the turn's end starts sooner. Nothing of
        the dialogue changes: if the caller speaks on, this was only wasted work. Blocking."""
        self._turns.anticipate(text)
        if self._warm_up is not None:
            self._warm_up(text)

    async def reply(self, text: str, dtmf: str = "", plan: TurnPlan | None = None) -> AgentReply:
        """The agent's whole reply to one caller turn (words and/or keypad digits)."""
        self.add_caller(text or f"(pressed {dtmf} on the keypad)")
        try:
            if plan is None:
                plan = await asyncio.to_thread(self._turns.handle, text, dtmf)
            self._record(plan)
            words = text if plan.heard else ""
            handover = await self._observer(plan, words, dtmf) if self._observer else None
            if handover is not None:
                return AgentReply(_before_handover(plan) + handover.say, plan, after=handover.after)
            if plan.use_llm and self._wants_llm(plan):
                reply = await self._compose(plan, text)
            else:
                reply = AgentReply(plan.say, plan)
            reply.hang_up = plan.hang_up
            return reply
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("turn failed")
            self._session.event("turn_error", error=f"{type(exc).__name__}: {exc}")
            return AgentReply(load_prompt("fallback"), plan)

    def _wants_llm(self, plan: TurnPlan) -> bool:
        return self._llm is not None and (self._llm_replies or self._llm.supports_tools)

    def _record(self, plan: TurnPlan) -> None:
        self._session.event(
            "understood",
            intent=plan.intent,
            act=plan.act,
            confidence=plan.confidence,
            failed=plan.failed,
            values={k: mask_secrets(v) for k, v in plan.values.items()},
            offers=plan.offers,
            does=plan.does,
            question=plan.question,
            llm=plan.use_llm and self._wants_llm(plan),
        )

    # -- the LLM's wording ---------------------------------------------------------------
    async def _compose(self, plan: TurnPlan, text: str) -> AgentReply:
        """The LLM's reply, whole, checked by the fact guard; the prepared reply otherwise."""
        assert self._llm is not None
        fallback = plan.say or build_fallback_reply(plan.facts)
        tools = ToolRunner(self._turns) if self._llm.supports_tools else None
        if tools is not None:  # what the tools return is as true as the plan's facts
            plan.facts = tools.facts | plan.facts
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            words = await self._generate(plan, tools)
        except TimeoutError:
            self._session.event("llm_timeout")
            return AgentReply(fallback, plan)
        except Exception as exc:
            log.exception("LLM failed")
            self._session.event("llm_error", error=f"{type(exc).__name__}: {exc}")
            return AgentReply(fallback, plan)
        if tools is not None:
            plan.facts.update(tools.facts)
            if tools.plan is not None:  # a tool ran a task: its plan is what was decided
                plan = tools.plan
                fallback = plan.say or fallback
        allowed = " ".join(
            [
                text,
                self._turns.caller_context(),
                plan.say,
                *(p.text for p in plan.passages),
                *(tools.results if tools else []),
            ]
        )
        verdict = check_reply(words, plan.facts, allowed, today=self._turns.today())
        if not words.strip() or not verdict.ok:
            self._session.event(
                "guard_rejected", sentence=mask_secrets(words), problems=verdict.problems
            )
            return AgentReply(fallback, plan, problems=verdict.problems)
        return AgentReply(words, plan, composed=True, first_token_s=loop.time() - started)

    async def _generate(self, plan: TurnPlan, tools: ToolRunner | None) -> str:
        """The model's whole reply: TimeoutError when the first token is later than
        FIRST_TOKEN_TIMEOUT_S or the reply takes longer than REPLY_TIMEOUT_S. The deadline
        cancels this task inside the stream, so the stream is closed where it stopped."""
        assert self._llm is not None
        stream = self._llm.stream(
            self._llm_messages(plan), tools=TOOLS if tools else None, call_tool=tools
        )
        pieces: list[str] = []
        loop = asyncio.get_running_loop()
        async with aclosing(stream) as tokens, asyncio.timeout(FIRST_TOKEN_TIMEOUT_S) as limit:
            async for token in tokens:
                if not pieces:
                    limit.reschedule(loop.time() + REPLY_TIMEOUT_S)
                pieces.append(token)
                if "".join(pieces).count(".") >= MAX_SENTENCES:
                    break  # a phone answer stays short
        return "".join(pieces).strip()

    def _llm_messages(self, plan: TurnPlan) -> list[Message]:
        grounding = ["Caller: " + (self._turns.caller_context() or "not a known customer")]
        if plan.facts:
            grounding.append(
                "Facts you may use:\n"
                + "\n".join(f"- {k.replace('_', ' ')}: {v}" for k, v in plan.facts.items())
            )
        if plan.passages:
            grounding.append("Policy:\n" + "\n".join(p.text for p in plan.passages[:2]))
        if plan.say:
            grounding.append(f"Say this in your own words, adding nothing: {plan.say}")
        grounding.append(
            "Use only these facts. Never promise to send, email or do anything "
            "else. If they do not answer, say so and offer a colleague."
        )
        system = {
            "role": "system",
            "content": self.messages[0]["content"] + "\n\n" + "\n\n".join(grounding),
        }
        return [system, *self.messages[1:][-HISTORY_MESSAGES:]]

    # -- the context the LLM sees ----------------------------------------------------------
    def add_caller(self, text: str) -> None:
        if self.messages[-1]["role"] == "user":  # the previous turn got no audible answer
            self.messages[-1]["content"] += " " + text
        else:
            self.messages.append({"role": "user", "content": text})

    def add_agent(self, text: str) -> Message:
        message: Message = {"role": "assistant", "content": text}
        self.messages.append(message)
        return message

    def forget(self, message: Message) -> None:
        if message in self.messages:
            self.messages.remove(message)


def _before_handover(plan: TurnPlan) -> str:
    """What a caller handed over by the escalation policy still hears of the answer first: an
    apology and the facts, without the questions (a person takes it from here). Nothing when
    they asked for a person themselves."""
    if plan.wants_human or not plan.say:
        return ""
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", plan.say):
        if sentence.endswith("?"):
            break  # the question and what explains it go: a person takes it from here
        kept.append(sentence)
    sorry = "" if kept and kept[0].startswith("I'm sorry") else "I'm sorry about this. "
    return f"{sorry}{' '.join(kept)} ".lstrip() if kept else sorry
