"""The turn manager: decide the agent's next turn and stream it out sentence by sentence."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from dataclasses import dataclass, field

from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputDTMFFrame,
    InterruptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.frames import AgentSentenceFrame, PlaybackMarkFrame
from voice.llm import LanguageModel, Message
from voice.logs import get_logger
from voice.prompts import load_prompt
from voice.sentences import SentenceSplitter
from voice.session import CallSession
from voice.transcriber import CallerUtterance

log = get_logger(__name__)


@dataclass
class Reply:
    reply_id: int
    utterance: CallerUtterance | None  # None for the greeting
    sentences: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    message: Message | None = None  # its entry in the conversation context
    ended: bool = False  # generation over, end mark queued
    finished: bool = False  # logged as an agent turn
    hang_up: bool = False  # end the call once this reply has been heard


class ConversationResponder(FrameProcessor):
    def __init__(self, session: CallSession, llm: LanguageModel, max_sentences: int = 3,
                 silence_reprompt_secs: float = 7.0, silence_max_reprompts: int = 2,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self._session, self._llm = session, llm
        self._max_sentences = max_sentences
        self._silence_secs, self._max_reprompts = silence_reprompt_secs, silence_max_reprompts
        self._silence_task: asyncio.Task | None = None
        self._reprompts = 0
        self._messages: list[Message] = [{"role": "system", "content": load_prompt("system")}]
        self._replies: dict[int, Reply] = {}
        self._next_id = 0
        self._task: asyncio.Task | None = None
        self._generating: Reply | None = None

    # -- frames --------------------------------------------------------------------------
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, (VADUserStartedSpeakingFrame, TranscriptionFrame, InputDTMFFrame)):
            await self._caller_active()
        if isinstance(frame, TranscriptionFrame) and isinstance(frame.result, CallerUtterance):
            await self._on_caller(frame.result)
        elif isinstance(frame, PlaybackMarkFrame):
            await self._on_mark(frame.mark)
        elif isinstance(frame, InputDTMFFrame):
            self._session.event("dtmf", digit=frame.button.value)
        else:
            if isinstance(frame, InterruptionFrame):
                await self._on_interruption()
            await self.push_frame(frame, direction)

    async def greet(self) -> None:
        """Speak the greeting from `prompts/greeting.txt` (no LLM: it must be instant)."""
        await self._speak_fixed(load_prompt("greeting"))

    async def _speak_fixed(self, text: str, hang_up: bool = False) -> None:
        """Say a prepared line: it joins the context like any reply."""
        reply = self._new_reply(None)
        reply.hang_up = hang_up
        reply.message = {"role": "assistant", "content": text}
        self._messages.append(reply.message)
        splitter = SentenceSplitter()
        for sentence in [*splitter.feed(text + " "), *splitter.flush()]:
            await self._say(reply, sentence)
        await self._end(reply)

    # -- caller turns --------------------------------------------------------------------
    async def _on_caller(self, utterance: CallerUtterance) -> None:
        # The caller spoke again before the reply was complete: what was said so far stands.
        unfinished = self._generating
        await self._cancel_generation()
        if unfinished is not None and not unfinished.ended:
            if unfinished.sentences:
                await self._conclude(unfinished)
            else:
                unfinished.finished = True
                self._replies.pop(unfinished.reply_id, None)
        text = utterance.transcript.text
        if self._messages[-1]["role"] == "user":  # the previous turn got no audible answer
            self._messages[-1]["content"] += " " + text
        else:
            self._messages.append({"role": "user", "content": text})
        reply = self._new_reply(utterance)
        self._generating = reply
        self._task = self.create_task(self._generate(reply), name=f"reply-{reply.reply_id}")

    async def _generate(self, reply: Reply) -> None:
        splitter = SentenceSplitter()
        try:
            async with aclosing(self._llm.stream(list(self._messages))) as tokens:
                async for token in tokens:
                    reply.first_token_at = reply.first_token_at or time.perf_counter()
                    for sentence in splitter.feed(token):
                        await self._say(reply, sentence)
                    if len(reply.sentences) >= self._max_sentences:
                        break  # a phone answer stays short
            if len(reply.sentences) < self._max_sentences:
                for sentence in splitter.flush():
                    await self._say(reply, sentence)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("LLM failed")
            self._session.event("llm_error", error=f"{type(exc).__name__}: {exc}")
            reply.sentences.clear()
            await self._say(reply, load_prompt("fallback"))
        if not reply.sentences:
            await self._say(reply, load_prompt("not_heard"))
        await self._conclude(reply)

    async def _conclude(self, reply: Reply) -> None:
        """Generation is over: the reply joins the context and its end mark is queued."""
        reply.message = {"role": "assistant", "content": " ".join(reply.sentences)}
        self._messages.append(reply.message)
        if self._generating is reply:
            self._generating = None
        await self._end(reply)

    async def _say(self, reply: Reply, sentence: str) -> None:
        if reply.first_sentence_at is None:
            reply.first_sentence_at = time.perf_counter()
        await self.push_frame(AgentSentenceFrame(text=sentence, reply_id=reply.reply_id,
                                                 index=len(reply.sentences)))
        reply.sentences.append(sentence)

    async def _end(self, reply: Reply) -> None:
        reply.ended = True
        await self.push_frame(AgentSentenceFrame(reply_id=reply.reply_id,
                                                 index=len(reply.sentences), last=True))

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
        if reply is not None and reply.hang_up:
            await self.push_frame(EndWorkerFrame(reason="agent ended the call"))
        elif not self._session.playback.agent_speaking and self._generating is None:
            self._arm_silence_timer()

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
        self._reprompts += 1
        self._session.event("silence", reprompt=self._reprompts)
        if self._reprompts > self._max_reprompts:
            self._session.end_reason = "silence"
            await self._speak_fixed(load_prompt("goodbye_silence"), hang_up=True)
        else:
            await self._speak_fixed(load_prompt("still_there"))

    async def _on_interruption(self) -> None:
        """Barge-in: stop generating and keep in the context only what the caller heard."""
        await self._cancel_generation()
        self._generating = None
        for reply in [r for r in self._replies.values() if not r.finished]:
            heard = self._session.playback.heard_text(reply.reply_id)
            if reply.message is None:
                reply.message = {"role": "assistant", "content": heard}
                self._messages.append(reply.message)
            reply.message["content"] = heard
            if not heard:
                self._messages.remove(reply.message)
            self._log_reply(reply, interrupted=True)

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
            stages = self._stages(reply, spoken[0].tts_ms if spoken else 0.0)
        self._session.agent_turn(text, start if start is not None else self._session.elapsed(),
                                 self._session.elapsed(), latency_ms, interrupted,
                                 reply_id=reply.reply_id, stages_ms=stages,
                                 generated=" ".join(reply.sentences))
        self._session.playback.forget(reply.reply_id)
        self._replies.pop(reply.reply_id, None)

    @staticmethod
    def _stages(reply: Reply, tts_ms: float) -> dict[str, float]:
        u = reply.utterance
        assert u is not None
        ms = lambda a, b: round((a - b) * 1000, 1) if a and b else None  # noqa: E731
        return {
            "stt": round(u.transcript.elapsed_seconds * 1000, 1),
            "llm_first_token": ms(reply.first_token_at, u.transcribed_at),
            "first_sentence": ms(reply.first_sentence_at, u.transcribed_at),
            "tts_first_audio": round(tts_ms, 1),
        }
