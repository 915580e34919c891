"""The agent's side of the conversation inside the pipeline: each caller turn in, speech out.

What to say is decided by the pipecat-free conversation (`voice.conversation`): understanding,
dialogue state, escalation and the wording, the same path a text rehearsal takes. This
processor adds what only a live call has: keypad entry, speaking sentence by sentence with
marks, barge-in (the context keeps only what the caller heard), silence re-prompts, and the
hand-over or hang-up once the last words have been heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputDTMFFrame,
    InterruptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.conversation import Conversation
from voice.dialogue.plan import TurnPlan
from voice.engines.llm import Message
from voice.engines.tts import base_language, speaks
from voice.logs import get_logger
from voice.pipeline.frames import (
    AgentSentenceFrame,
    LikelyTranscriptFrame,
    PlaybackMarkFrame,
    ResumeFrame,
)
from voice.pipeline.sentences import SentenceSplitter
from voice.pipeline.transcriber import CallerUtterance
from voice.privacy import mask_secrets
from voice.prompts import load_prompt
from voice.session import CallSession

log = get_logger("voice.responder")  # the name its logs have always carried

DTMF_PAUSE_S = 2.0  # keypad entry ends with '#' or this long without another key
SUPERVISOR_POLL_S = 0.1  # how often a waiting supervisor's sentence looks for a quiet moment
FOREIGN_LANGUAGE_CONFIDENCE = 0.8


@dataclass
class Reply:
    reply_id: int
    utterance: CallerUtterance | None  # None for prepared lines (greeting, re-prompts)
    sentences: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    message: Message | None = None  # its entry in the conversation context
    ended: bool = False  # generation over, end mark queued
    finished: bool = False  # logged as an agent turn
    hang_up: bool = False  # end the call once this reply has been heard
    after: Callable[[], Awaitable[str | None]] | None = None  # once heard; may return a line
    supervisor: str = ""  # a supervisor's sentence (the live console): the manager's name
    heard: asyncio.Future | None = None  # for a supervisor's: (what was heard, interrupted)


@dataclass
class CutReply:
    """What a barge-in cut from a reply, from the sentence the caller was hearing: said again
    if what stopped the agent was no turn after all (`ResumeFrame`)."""

    text: str
    hang_up: bool
    after: Callable[[], Awaitable[str | None]] | None


@dataclass
class SupervisorLine:
    text: str
    manager: str
    hang_up: bool
    after: Callable[[], Awaitable[str | None]] | None
    heard: asyncio.Future


class ConversationResponder(FrameProcessor):
    def __init__(
        self,
        session: CallSession,
        conversation: Conversation,
        *,
        language: str = "en",
        voices: frozenset[str] = frozenset(),
        silence_reprompt_secs: float = 7.0,
        silence_max_reprompts: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._session, self._conversation = session, conversation
        self._language = language
        self._voices = voices  # languages the TTS engine can answer in
        self._silence_secs, self._max_reprompts = silence_reprompt_secs, silence_max_reprompts
        self._replies: dict[int, Reply] = {}
        self._next_id = 0
        self._task: asyncio.Task | None = None
        self._generating: Reply | None = None
        self._silence_task: asyncio.Task | None = None
        self._reprompts = 0
        self._dtmf = ""
        self._dtmf_task: asyncio.Task | None = None
        self._caller_speaking = False
        self._supervisor_lines: list[SupervisorLine] = []
        self._supervisor_task: asyncio.Task | None = None
        self._cut: CutReply | None = None  # the last barge-in's, until the caller's next turn
        self._anticipating: asyncio.Task | None = None

    # -- frames --------------------------------------------------------------------------
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame | VADUserStoppedSpeakingFrame):
            self._caller_speaking = isinstance(frame, VADUserStartedSpeakingFrame)
        if isinstance(frame, (VADUserStartedSpeakingFrame, TranscriptionFrame, InputDTMFFrame)):
            await self._caller_active()
        if isinstance(frame, TranscriptionFrame) and isinstance(frame.result, CallerUtterance):
            await self._on_caller(frame.result)
        elif isinstance(frame, LikelyTranscriptFrame):
            self._anticipate(frame.text)
        elif isinstance(frame, PlaybackMarkFrame):
            await self._on_mark(frame.mark)
        elif isinstance(frame, InputDTMFFrame):
            await self._on_key(frame.button.value)
        elif isinstance(frame, ResumeFrame):
            await self._resume()
        else:
            if isinstance(frame, InterruptionFrame):
                await self._on_interruption()
            await self.push_frame(frame, direction)

    async def greet(self) -> None:
        """Speak the greeting (personalised when the caller is known); no LLM: it is instant."""
        await self.say_prepared(self._conversation.greeting())

    async def say_prepared(
        self,
        text: str,
        *,
        hang_up: bool = False,
        after: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        """Say a prepared line: it joins the context like any reply."""
        reply = self._new_reply(None)
        reply.hang_up, reply.after = hang_up, after
        await self._speak_text(reply, text)
        await self._conclude(reply)

    # -- a supervisor's words (the live console) ----------------------------------------
    def supervisor_line(
        self,
        text: str,
        manager: str,
        *,
        hang_up: bool = False,
        after: Callable[[], Awaitable[str | None]] | None = None,
    ) -> asyncio.Future:
        """Say `text` in the agent's voice at the next moment the agent would speak: before its
        next reply, or at once when the line is quiet (the agent silent, the caller not
        speaking). It is logged as an agent turn marked as `manager`'s. The future gives
        (what the caller heard, whether they talked over it) once it has been played."""
        heard = asyncio.get_running_loop().create_future()
        self._supervisor_lines.append(SupervisorLine(text, manager, hang_up, after, heard))
        if self._supervisor_task is None or self._supervisor_task.done():
            self._supervisor_task = self.create_task(self._supervisor_watch(), name="supervisor")
        return heard

    def _quiet(self) -> bool:
        return (
            self._generating is None
            and not self._caller_speaking
            and not self._session.playback.agent_speaking
        )

    async def _supervisor_watch(self) -> None:
        """While sentences wait: say them as soon as the line is quiet."""
        while self._supervisor_lines:
            if self._quiet():
                await self._say_supervisor_lines()
            await asyncio.sleep(SUPERVISOR_POLL_S)

    async def _say_supervisor_lines(self) -> bool:
        """Say the waiting sentences; True when one of them ends the agent's part (a goodbye
        or a hand-over), so the agent's own reply is not said after it."""
        final = False
        while self._supervisor_lines and not final:
            line = self._supervisor_lines.pop(0)
            reply = self._new_reply(None)
            reply.supervisor, reply.heard = line.manager, line.heard
            reply.hang_up, reply.after = line.hang_up, line.after
            await self._speak_text(reply, line.text)
            await self._conclude(reply)
            final = line.hang_up or line.after is not None
        return final

    # -- caller turns --------------------------------------------------------------------
    async def _on_key(self, digit: str) -> None:
        """Keypad digits arrive one event each: collect them into one entry."""
        self._dtmf += digit
        if self._dtmf_task and not self._dtmf_task.done():
            await self.cancel_task(self._dtmf_task)
        if digit == "#" or self._dtmf == "0":
            await self._keypad_turn()
        else:
            self._dtmf_task = self.create_task(self._keypad_after_pause(), name="dtmf")

    async def _keypad_after_pause(self) -> None:
        await asyncio.sleep(DTMF_PAUSE_S)
        await self._keypad_turn()

    async def _keypad_turn(self) -> None:
        digits, self._dtmf = self._dtmf, ""
        if digits:
            self._session.event("keypad_entry", digits=mask_secrets(digits))
            await self._respond(None, "", digits)

    def _anticipate(self, text: str) -> None:
        """The caller paused after `text`: the conversation prepares its reading, off the loop.
        One at a time; one still running covers most of the next (the same words, and more)."""
        if self._anticipating is None or self._anticipating.done():
            self._anticipating = self.create_task(self._prepare(text), name="anticipate")

    async def _prepare(self, text: str) -> None:
        try:
            await asyncio.to_thread(self._conversation.anticipate, text)
        except Exception:  # only a head start was lost: the reply reads the turn itself
            log.warning("preparing the reading of a turn failed", exc_info=True)

    async def _on_caller(self, utterance: CallerUtterance) -> None:
        transcript = utterance.transcript
        if transcript.doubtful:
            # Maybe noise read as words ("I'll see you in the next one." from cafe babble):
            # acting on it could end the call or move money. The dialogue stays as it was.
            plan = TurnPlan("not_heard", say=load_prompt("not_heard"), heard=False)
            await self._respond(utterance, transcript.text, "", plan=plan)
            return
        if self._other_language(transcript.language, transcript.language_probability):
            # Our voice cannot answer in the caller's language: say so, and offer a person.
            plan = self._conversation.turns.offer_human(
                "other_language", load_prompt("other_language")
            )
            await self._respond(utterance, transcript.text, "", plan=plan)
            return
        await self._respond(utterance, transcript.text, "")

    def _other_language(self, language: str, probability: float) -> bool:
        """A language other than the configured one, heard surely, that the TTS cannot speak."""
        if (
            base_language(language) == base_language(self._language)
            or probability < FOREIGN_LANGUAGE_CONFIDENCE
        ):
            return False
        voiced = speaks(self._voices, language)
        self._session.event(
            "other_language",
            language=language,
            probability=round(probability, 2),
            offered_human=not voiced,
        )
        return not voiced

    async def _respond(
        self, utterance: CallerUtterance | None, text: str, dtmf: str, plan: TurnPlan | None = None
    ) -> None:
        self._cut = None  # the caller took the turn: what was cut stays unsaid
        # The caller spoke again before the reply was complete: what was said so far stands.
        unfinished = self._generating
        await self._cancel_generation()
        if unfinished is not None and not unfinished.ended:
            if unfinished.sentences:
                await self._conclude(unfinished)
            else:
                unfinished.finished = True
                self._replies.pop(unfinished.reply_id, None)
        reply = self._new_reply(utterance)
        self._generating = reply
        self._task = self.create_task(
            self._answer(reply, text, dtmf, plan), name=f"reply-{reply.reply_id}"
        )

    async def _answer(self, reply: Reply, text: str, dtmf: str, plan: TurnPlan | None) -> None:
        decided = await self._conversation.reply(text, dtmf, plan)
        if decided.first_token_s is not None:
            reply.first_token_at = time.perf_counter()
        reply.after, reply.hang_up = decided.after, decided.hang_up
        if self._supervisor_lines and await self._say_supervisor_lines():
            reply.finished = True  # a supervisor ended the agent's part: this reply goes unsaid
            self._replies.pop(reply.reply_id, None)
            if self._generating is reply:
                self._generating = None
            return
        await self._speak_text(reply, decided.text or load_prompt("not_heard"))
        await self._conclude(reply)

    async def _speak_text(self, reply: Reply, text: str) -> None:
        splitter = SentenceSplitter()
        for sentence in [*splitter.feed(text + " "), *splitter.flush()]:
            await self._say(reply, sentence)

    async def _say(self, reply: Reply, sentence: str) -> None:
        if reply.first_sentence_at is None:
            reply.first_sentence_at = time.perf_counter()
        await self.push_frame(
            AgentSentenceFrame(text=sentence, reply_id=reply.reply_id, index=len(reply.sentences))
        )
        reply.sentences.append(sentence)

    async def _conclude(self, reply: Reply) -> None:
        """The reply is complete: it joins the context and its end mark is queued."""
        reply.message = self._conversation.add_agent(" ".join(reply.sentences))
        if self._generating is reply:
            self._generating = None
        reply.ended = True
        await self.push_frame(
            AgentSentenceFrame(reply_id=reply.reply_id, index=len(reply.sentences), last=True)
        )

    def _new_reply(self, utterance: CallerUtterance | None) -> Reply:
        self._next_id += 1
        reply = Reply(self._next_id, utterance)
        self._replies[reply.reply_id] = reply
        return reply

    async def _cancel_generation(self) -> None:
        if self._task and not self._task.done():
            await self.cancel_task(self._task)
        self._task = None

    # -- playback ------------------------------------------------------------------------
    async def _on_mark(self, name: str) -> None:
        sentence = self._session.playback.mark_played(name)
        if sentence is None or not sentence.last:
            return
        reply = self._replies.get(sentence.reply_id)
        self._log_reply(reply, interrupted=False)
        if reply is not None and reply.after is not None:
            try:
                last_line = await reply.after()
            except Exception as exc:  # a failed hand-over must not leave the caller in silence
                log.exception("after-reply action failed")
                self._session.event("handover_error", error=f"{type(exc).__name__}: {exc}")
                await self.say_prepared(load_prompt("fallback"))
                return
            if last_line:
                await self.say_prepared(last_line, hang_up=True)
            return
        if reply is not None and reply.hang_up:
            self._session.end("agent_hangup")
            await self.push_frame(EndWorkerFrame(reason="agent ended the call"))
        elif not self._session.playback.agent_speaking and self._generating is None:
            self._arm_silence_timer()

    async def _on_interruption(self) -> None:
        """Barge-in: stop generating and keep in the context only what the caller heard."""
        await self._cancel_generation()
        self._generating = None
        self._cut = None
        for reply in [r for r in self._replies.values() if not r.finished]:
            self._cut = self._unheard(reply) or self._cut
            heard = self._session.playback.heard_text(reply.reply_id)
            if reply.message is None:
                reply.message = self._conversation.add_agent(heard)
            reply.message["content"] = heard
            if not heard:
                self._conversation.forget(reply.message)
            self._log_reply(reply, interrupted=True)

    def _unheard(self, reply: Reply) -> CutReply | None:
        """A whole reply's sentences from the first the caller did not hear to the end (a
        supervisor's line or a reply still being written has no part to say again)."""
        if not reply.ended or reply.supervisor:
            return None
        spoken = self._session.playback.sentences(reply.reply_id)
        heard = max((s.index + 1 for s in spoken if s.played and s.text), default=0)
        rest = reply.sentences[heard:]
        if not rest:
            return None
        return CutReply(" ".join(rest), reply.hang_up, reply.after)

    async def _resume(self) -> None:
        """What stopped the agent was no turn: say again what it cut, once (with nothing to
        say again, the line waits for the caller as after any reply)."""
        cut, self._cut = self._cut, None
        if not self._quiet():
            return  # a reply, or the caller's speech, is under way
        if cut is None:
            self._arm_silence_timer()
            return
        self._session.event("resumed", text=cut.text)
        await self.say_prepared(cut.text, hang_up=cut.hang_up, after=cut.after)

    def _log_reply(self, reply: Reply | None, interrupted: bool) -> None:
        if reply is None or reply.finished:
            return
        reply.finished = True
        spoken = [s for s in self._session.playback.sentences(reply.reply_id) if s.text]
        start = next((s.started_at for s in spoken if s.started_at is not None), None)
        text = self._session.playback.heard_text(reply.reply_id)
        latency_ms, stages = None, {}
        if reply.utterance is not None and start is not None:
            latency_ms = round((start - reply.utterance.end_s) * 1000, 1)
            stages = _stages(reply, spoken[0].tts_ms if spoken else 0.0)
        marked = {"supervisor": reply.supervisor} if reply.supervisor else {}
        self._session.agent_turn(
            text,
            start if start is not None else self._session.elapsed(),
            self._session.elapsed(),
            latency_ms,
            interrupted,
            reply_id=reply.reply_id,
            stages_ms=stages,
            generated=" ".join(reply.sentences),
            **marked,
        )
        if reply.heard is not None and not reply.heard.done():
            reply.heard.set_result((text, interrupted))
        self._session.playback.forget(reply.reply_id)
        self._replies.pop(reply.reply_id, None)

    async def cleanup(self) -> None:
        """The pipeline is over: no timer of ours may speak into the call afterwards."""
        for task in (self._silence_task, self._dtmf_task, self._supervisor_task):
            if task is not None and not task.done():
                await self.cancel_task(task)
        await super().cleanup()

    # -- silence -------------------------------------------------------------------------
    async def _caller_active(self) -> None:
        self._reprompts = 0
        if self._silence_task and not self._silence_task.done():
            await self.cancel_task(self._silence_task)
        self._silence_task = None

    def _arm_silence_timer(self) -> None:
        if self._silence_secs > 0 and (self._silence_task is None or self._silence_task.done()):
            self._silence_task = self.create_task(self._on_silence(), name="silence")

    async def _on_silence(self) -> None:
        await asyncio.sleep(self._silence_secs)
        if self._session.end_reason is not None or self._session.closed:
            return  # the call is ending (the caller hung up): nobody is left to prompt
        self._reprompts += 1
        self._session.event("silence", reprompt=self._reprompts)
        if self._reprompts > self._max_reprompts:
            self._session.end("silence")
            await self.say_prepared(load_prompt("goodbye_silence"), hang_up=True)
        else:
            await self.say_prepared(load_prompt("still_there"))


def _stages(reply: Reply, tts_ms: float) -> dict[str, float | None]:
    u = reply.utterance
    assert u is not None

    def since_transcript(moment: float | None) -> float | None:
        return round((moment - u.transcribed_at) * 1000, 1) if moment else None

    return {
        "stt": round(u.transcript.elapsed_seconds * 1000, 1),
        "llm_first_token": since_transcript(reply.first_token_at),
        "first_sentence": since_transcript(reply.first_sentence_at),
        "tts_first_audio": round(tts_ms, 1),
    }
