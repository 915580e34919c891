"""The pipecat-free half of a call, the same for a phone call and a text call: what is
understood, decided and said, and the outcome stored when the call closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from voice.conversation import Conversation
from voice.dialogue.policy import TurnManager
from voice.engines.embeddings import Embedder
from voice.engines.llm import LanguageModel
from voice.engines.resources import BusinessResources
from voice.escalation.handover import HandoverCoordinator, Transfer
from voice.session import CallSession
from voice.settings import Settings
from voice.store.history import record_outcome


@dataclass
class CallDialogue:
    """The pipecat-free half of a call: what is understood, decided and said."""

    turns: TurnManager
    handover: HandoverCoordinator
    conversation: Conversation


def open_dialogue(
    session: CallSession,
    resources: BusinessResources,
    embedder: Embedder,
    llm: LanguageModel | None,
    settings: Settings,
    transfer: Transfer,
    *,
    today: date | None = None,
    can_transfer: bool | None = None,
) -> CallDialogue:
    """Who is calling and what they have open is looked up now, before the greeting
    (blocking: off the event loop on a phone call). The outcome is stored when the call closes.
    `can_transfer`: there is someone to hand the call to; by default, when HUMAN_AGENT_NUMBER
    is set (without one the caller is promised a call back, not told they are put through)."""
    profile = resources.history.profile(session.caller, exclude_call_sid=session.call_sid)
    turns = TurnManager(
        resources.business,
        resources.knowledge,
        embedder,
        profile,
        session.caller,
        compose_answers=settings.compose_answers,
        today=today or settings.agent_today,
        reader=resources.reader,
    )
    if can_transfer is None:
        can_transfer = bool(settings.human_agent_number)
    handover = HandoverCoordinator(
        session,
        turns,
        resources.sentiment,
        resources.escalation_policy(settings),
        transfer,
        can_transfer=can_transfer,
    )
    conversation = Conversation(
        session,
        turns,
        llm,
        handover,
        llm_replies=settings.compose_answers,
        warm_up=handover.anticipate,
    )

    def store_outcome() -> None:
        record_outcome(
            session.store.engine,
            session.call_sid,
            turns.summary(),
            turns.outcome(session.escalated),
            ",".join(turns.topics()),
        )

    session.on_close.append(store_outcome)
    return CallDialogue(turns, handover, conversation)
