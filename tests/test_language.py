"""Turns the agent cannot act on as heard: a caller speaking another language is offered a
person, unless the voice speaks it; words Whisper doubts anyone said are asked again; speech
that stopped the agent but was no turn (the backchannel filter's `ResumeFrame`) has the agent
say again what was cut.

The responder runs in a pipecat pipeline with the real conversation (turn manager,
business data, sentiment classifier and escalation policy); a turn arrives as Whisper's
result, marked with the language it detected.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from openai_standin import OpenAIStandin
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    Frame,
    InputDTMFFrame,
    InterruptionFrame,
    TranscriptionFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from voice.conversation import Conversation
from voice.dialogue.policy import TurnManager
from voice.engines.embeddings import shared_embedder
from voice.engines.llm import OpenAICompatibleLLM
from voice.engines.resources import BusinessResources
from voice.engines.stt import Transcript
from voice.engines.tts import HibariEngine, SpeechSynthesizer, speaks
from voice.escalation.handover import HandoverCoordinator
from voice.pipeline.frames import AgentSentenceFrame, PlaybackMarkFrame, ResumeFrame
from voice.pipeline.responder import ConversationResponder
from voice.pipeline.transcriber import CallerUtterance
from voice.prompts import load_prompt
from voice.session import CallSession
from voice.settings import Settings
from voice.store.calls import Store

CALLER = "+15550001111"
SPANISH = "Hola, ¿me puede ayudar con mi pedido, por favor?"
WAIT = SleepFrame(3.0)  # the reply is planned off the event loop; 2 busy cores are slow


class SpanishEngine:
    """A TTS engine with a Spanish voice (none ships); it only has to declare the language."""

    name, sample_rate, languages = "test:es", 16000, frozenset({"es-ES"})

    def synthesize(self, text: str) -> np.ndarray:
        return np.zeros(1600, dtype=np.float32)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("language")
    return Settings(
        _env_file=None, RECORDINGS_DIR=folder, DATABASE_URL=f"sqlite:///{folder / 'calls.db'}"
    )


@pytest.fixture(scope="module")
def store(settings: Settings) -> Store:
    return Store(settings.database)


@pytest.fixture(scope="module")
def resources(store: Store, settings: Settings) -> BusinessResources:
    return BusinessResources.open(store, shared_embedder(), settings)


@pytest.fixture(scope="module")
def llm():
    with OpenAIStandin(lambda body: {"text": "Claro, con gusto le ayudo."}) as server:
        yield OpenAICompatibleLLM("standin", server.base_url, "key")


def heard(
    text: str,
    language: str,
    probability: float = 0.95,
    no_speech: float = 0.01,
    logprob: float = -0.2,
) -> TranscriptionFrame:
    """A caller turn as the transcriber passes it on."""
    transcript = Transcript(
        text=text,
        language=language,
        language_probability=probability,
        no_speech_probability=no_speech,
        audio_seconds=2.0,
        elapsed_seconds=0.2,
        avg_logprob=logprob,
    )
    now = time.perf_counter()
    return TranscriptionFrame(
        text=text,
        user_id=CALLER,
        timestamp="2.000",
        result=CallerUtterance(transcript, 0.0, 2.0, now, now),
    )


class _Playback(FrameProcessor):
    """Test scaffolding for the speaker and the barge-in detector: each sentence that passes
    is queued for playback; an interruption drops what is queued (before the responder sees
    it, as the detector does)."""

    def __init__(self, session: CallSession) -> None:
        super().__init__()
        self._session = session

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        playback = self._session.playback
        if isinstance(frame, InterruptionFrame):
            playback.cleared()
        elif isinstance(frame, AgentSentenceFrame):
            playback.queued(frame.reply_id, frame.index, frame.text, 1.0, frame.last)
        await self.push_frame(frame, direction)


async def not_expected_transfer(call_sid: str, **_details: str):
    raise AssertionError("no agent audio is played in this test, so nothing is moved")


@pytest.fixture()
def call(store: Store, resources: BusinessResources, settings: Settings, llm):
    """Run caller frames through a responder whose voice speaks `voices`."""

    async def run(
        voices: frozenset[str], frames: list[Frame], call_sid: str
    ) -> tuple[list[str], list[dict]]:
        return await run_call(store, resources, settings, llm, voices, frames, call_sid)

    return run


async def run_call(
    store: Store,
    resources: BusinessResources,
    settings: Settings,
    llm,
    voices: frozenset[str],
    frames: list[Frame],
    call_sid: str,
    played: bool = False,
) -> tuple[list[str], list[dict]]:
    """The replies (one string each) and the call's recorded events; with `played`, each
    sentence is queued for playback as the speaker would (marks then say it played)."""
    session = CallSession(call_sid, "MZ1", CALLER, settings.recordings_dir, store)
    turns = TurnManager(resources.business, resources.knowledge, shared_embedder(), None, CALLER)
    observer = HandoverCoordinator(
        session,
        turns,
        resources.sentiment,
        BusinessResources.escalation_policy(settings),
        not_expected_transfer,
    )
    conversation = Conversation(session, turns, llm, observer)
    responder = ConversationResponder(session, conversation, language="en", voices=voices)
    around = [_Playback(session), responder, _Playback(session)]
    pipeline = Pipeline(around) if played else responder
    down, _ = await run_test(pipeline, frames_to_send=frames)
    session.close("completed")
    replies: dict[int, list[str]] = {}
    for frame in down:
        if isinstance(frame, AgentSentenceFrame) and frame.text:
            replies.setdefault(frame.reply_id, []).append(frame.text)
    lines = Path(session.recorder.events_path).read_text().splitlines()
    return [" ".join(r) for _, r in sorted(replies.items())], [json.loads(x) for x in lines]


async def test_another_language_is_offered_a_person_and_yes_hands_over(call):
    replies, events = await call(
        HibariEngine.languages,
        [heard(SPANISH, "es"), WAIT, heard("Yes, please.", "en"), WAIT],
        "CAlang1",
    )
    assert replies[0] == load_prompt("other_language")
    assert "only help in English" in replies[0] and "person" in replies[0]
    assert replies[1] == load_prompt("handoff")
    offer = next(e for e in events if e["type"] == "other_language")
    assert offer["language"] == "es" and offer["offered_human"] is True
    escalation = next(e for e in events if e["type"] == "escalation")
    assert escalation["rule"] == "human_request"


async def test_pressing_zero_after_the_offer_hands_over(call):
    replies, events = await call(
        HibariEngine.languages,
        [heard(SPANISH, "es"), WAIT, InputDTMFFrame(button=KeypadEntry.ZERO), WAIT],
        "CAlang2",
    )
    assert replies == [load_prompt("other_language"), load_prompt("handoff")]
    assert any(e["type"] == "escalation" for e in events)


async def test_an_unsure_guess_at_another_language_is_answered_normally(call):
    replies, events = await call(
        HibariEngine.languages, [heard("Hello, can you help me?", "es", 0.5), WAIT], "CAlang3"
    )
    assert replies and replies[0] != load_prompt("other_language")
    assert not any(e["type"] in ("other_language", "escalation") for e in events)


async def test_a_voice_for_the_callers_language_suppresses_the_offer(call):
    voices = SpeechSynthesizer(SpanishEngine()).languages  # what the pipeline hands over
    replies, events = await call(voices, [heard(SPANISH, "es"), WAIT], "CAlang4")
    assert replies and replies[0] != load_prompt("other_language")
    assert "English" not in replies[0]
    noted = next(e for e in events if e["type"] == "other_language")
    assert noted["offered_human"] is False
    assert not any(e["type"] == "escalation" for e in events)


def test_engines_declare_their_languages():
    assert speaks(HibariEngine.languages, "en") and speaks(HibariEngine.languages, "en-GB")
    assert not speaks(HibariEngine.languages, "es")
    assert speaks(SpanishEngine.languages, "es") and not speaks(frozenset(), "en")


# Cafe babble alone, as Whisper read it in bench/noise.py: a sure reading would end the call.
BABBLE = "I'll see you in the next one."


async def test_words_whisper_doubts_are_asked_again_not_acted_on(call):
    doubtful = heard(BABBLE, "en", no_speech=0.55, logprob=-1.2)
    replies, events = await call(
        HibariEngine.languages, [doubtful, WAIT, heard("Where is my order?", "en"), WAIT], "CAdoubt"
    )
    assert replies[0] == load_prompt("not_heard"), replies
    assert "goodbye" not in " ".join(replies).lower(), replies
    assert "order" in replies[1].lower(), replies
    understood = [e["intent"] for e in events if e["type"] == "understood"]
    assert understood[0] == "not_heard" and understood[1] != "not_heard", understood
    # The doubted words got no mood of their own; the real turn did.
    assert [e["type"] for e in events].count("sentiment") == 1, events
    assert not any(e["type"] == "escalation" for e in events)


async def test_the_same_words_heard_surely_are_acted_on(call):
    # Why the doubt matters: read surely, these words are a goodbye.
    replies, _ = await call(HibariEngine.languages, [heard(BABBLE, "en"), WAIT], "CAsure")
    assert "goodbye" in replies[0].lower(), replies


async def test_a_stop_that_was_no_turn_has_the_agent_say_again_what_was_cut(
    store, resources, settings, llm
):
    # The caller heard the answer's first sentence; a backchannel misheard as words stopped
    # the agent in the second, and the filter found the utterance was no turn.
    frames = [heard("What is your return policy?", "en"), WAIT, PlaybackMarkFrame(mark="r1s0")]
    stop = [InterruptionFrame(), SleepFrame(0.2)]
    voices = HibariEngine.languages
    resumed_call = [*frames, *stop, ResumeFrame(), WAIT]
    replies, events = await run_call(
        store, resources, settings, llm, voices, resumed_call, "CAresume", played=True
    )
    cut = next(e for e in events if e["type"] == "agent_turn")
    assert cut["interrupted"] is True and cut["text"], cut
    first_sentence = cut["text"]
    resumed = next(e for e in events if e["type"] == "resumed")
    assert replies[1] == resumed["text"], (replies, resumed)
    assert replies[0] == f"{first_sentence} {resumed['text']}", replies
    # The caller took the turn after the stop: what was cut stays unsaid.
    after_a_turn = [*frames, *stop, heard("Cancel it.", "en"), WAIT, ResumeFrame(), WAIT]
    replies, events = await run_call(
        store, resources, settings, llm, voices, after_a_turn, "CAnoresume", played=True
    )
    assert not any(e["type"] == "resumed" for e in events), events
    assert len(replies) == 2 and "cancel" in replies[1].lower(), replies
