"""A call in text: the whole brain of a phone call without speech recognition or synthesis.

Developers rehearse the dialogue in seconds (`callcentre eval --text`, `callcentre chat`): each
caller turn is text, and it goes through exactly what a phone call's turn goes through
(understanding, dialogue state, the business, sentiment and the escalation policy, the reply's
wording), into the same recording (JSONL events) and the same database rows. Only the audio
ends are missing, and the hand-over stops where Twilio would take the call.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from voice.call.dialogue import open_dialogue
from voice.conversation import AgentReply, Conversation
from voice.engines.embeddings import Embedder, shared_embedder
from voice.engines.llm import LanguageModel
from voice.engines.resources import BusinessResources
from voice.session import CallSession
from voice.settings import Settings
from voice.store.calls import Store

_numbers = itertools.count(1)


@dataclass
class TransferToPerson:
    """Where Twilio would take over: the hand-over is accepted and noted, nothing is dialled."""

    ok: bool = True
    error: str = ""


@dataclass
class TextTurn:
    caller: str
    reply: AgentReply
    escalated: bool


@dataclass
class TextCall:
    """One rehearsed call: `say()` each caller turn, `close()` at the end."""

    session: CallSession
    conversation: Conversation
    greeting: str = ""
    turns: list[TextTurn] = field(default_factory=list)
    ended: bool = False

    async def say(self, text: str = "", dtmf: str = "") -> TextTurn:
        """One caller turn (words and/or keypad digits) and the agent's whole reply."""
        session = self.session
        at = session.elapsed()
        if text:
            session.caller_turn(text, at, at, "en")
        if dtmf:
            session.event("keypad_entry", digits=dtmf)
        reply = await self.conversation.reply(text, dtmf)
        self.conversation.add_agent(reply.text)
        session.agent_turn(reply.text, at, at, None, False, text_mode=True)
        if reply.after is not None:  # the hand-over: Twilio would move the call now
            last = await reply.after()
            if last:
                session.agent_turn(last, at, at, None, False, text_mode=True)
            self.ended = True
        if reply.hang_up:
            session.end("agent_hangup")
            self.ended = True
        turn = TextTurn(text or f"(keypad) {dtmf}", reply, session.escalated)
        self.turns.append(turn)
        return turn

    def close(self) -> None:
        self.session.close("completed")


class TextCalls:
    """Opens text calls against one store and business, with the process's shared models."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        embedder: Embedder | None = None,
        llm: LanguageModel | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._settings, self._store, self._llm = settings, store, llm
        self._embedder = embedder or shared_embedder()
        self.resources = BusinessResources.open(store, self._embedder, settings, now=clock)

    def open(self, caller: str, *, today: date | None = None) -> TextCall:
        settings, resources = self._settings, self.resources
        call_sid = f"CA{secrets.token_hex(15)}{next(_numbers) % 100:02d}"
        session = CallSession(
            call_sid, f"MZtext{call_sid[2:]}", caller, Path(settings.recordings_dir), self._store
        )

        async def transfer(call_sid: str, **_note: str) -> TransferToPerson:
            return TransferToPerson()

        # A rehearsal hands over where Twilio would take the call, number configured or not.
        dialogue = open_dialogue(
            session,
            resources,
            self._embedder,
            self._llm,
            settings,
            transfer,
            today=today,
            can_transfer=True,
        )
        conversation = dialogue.conversation
        greeting = conversation.greeting()
        conversation.add_agent(greeting)
        session.agent_turn(greeting, 0.0, 0.0, None, False, text_mode=True)
        return TextCall(session, conversation, greeting=greeting)
