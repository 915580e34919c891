"""Backchannels: "mm-hm", "okay", "yeah" said while the agent talks mean "go on", not "stop".

`is_backchannel` tells such a transcript from a turn. The barge-in detector does not count
these words (voice/pipeline/barge_in.py), and `BackchannelFilter`, between the transcriber
and the responder, keeps a backchannel heard while the agent is talking from becoming a turn
that would cut the agent's reply short and answer "okay" (it is still stored as said, and
logged as a `backchannel` event). Words Whisper doubts anyone said (`Transcript.doubtful`:
babble read as "I'll see you in the next one.") heard over the agent are dropped the same way
(a `doubtful_over_agent` event). When such speech did stop the agent (the barge-in check
heard it as words: "In the U.S." for "yeah, yeah" in cafe noise), the agent says again what
was cut (`ResumeFrame`) instead of answering it.

What a word means depends on what the caller was hearing when they began to speak:
- continuers ("mm-hm", "uh-huh", a laugh) never take the turn;
- agreement ("yes", "yeah", "okay", "right") over a statement says "go on", but over a
  question the caller has begun to hear it is an answer, and counts like any word;
- "no" always counts: an objection should stop the agent, not be talked over.
"""

from __future__ import annotations

import re

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.pipeline.frames import ResumeFrame
from voice.pipeline.transcriber import CallerUtterance
from voice.session import CallSession

CONTINUERS = frozenset(
    {
        "mm",
        "hm",
        "hmm",
        "mhm",
        "mmhm",
        "mmhmm",
        "mm-hm",
        "mm-hmm",
        "uh-huh",
        "uhhuh",
        "uh",
        "huh",
        "um",
        "ah",
        "oh",
        "aha",
        # A laugh ("Ha ha."): Whisper also reads a muffled "uh-huh" in cafe noise so.
        "ha",
        "hah",
        "haha",
    }
)
AGREEMENT = frozenset(
    {
        "okay",
        "ok",
        "k",
        "yes",
        "yeah",
        "yea",
        "yep",
        "yup",
        "right",
        "alright",
        "sure",
        "cool",
        "great",
        "fine",
        "good",
    }
)
BACKCHANNEL_WORDS = CONTINUERS | AGREEMENT
# Acknowledgements said as phrases: each counts as one "okay" ("i see": "i" alone is a word;
# "It's okay" is how Whisper read "okay" in cafe noise).
_PHRASES = (
    "i see",
    "got it",
    "all right",
    "sounds good",
    "it's okay",
    "that's okay",
    "that's fine",
    "that's right",
    "fair enough",
)
_PHRASE = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in _PHRASES) + r")\b")


def backchannel_words(question: bool) -> frozenset[str]:
    """Words that do not take the turn, said over a question (`question`) or a statement."""
    return CONTINUERS if question else BACKCHANNEL_WORDS


def words_of(text: str) -> list[str]:
    # "I'm" is one word, not "i" and "m"; "mm-hm" one too.
    return re.findall(r"[a-z]+(?:['-][a-z]+)*", text.lower().replace("’", "'"))


def a_sound(word: str) -> bool:
    """How Whisper spells a sound it cannot read as words: letters ("D.F. D.F.", "D-E-R" for
    "yeah, yeah" in cafe noise; "I" and "a" are words) or one syllable over and over
    ("Sa-sa-sa-sa", "G-n-n-n-n" for "uh-huh")."""
    parts = word.split("-")
    if len(parts) >= 3 and max(parts.count(part) for part in parts) >= 3:
        return True
    if len(parts) > 1:
        return all(len(part) == 1 for part in parts)
    return len(word) == 1 and word not in ("i", "a")


def real_words(text: str, question: bool = False) -> set[str]:
    """The different words of `text` that take the turn: not backchannels or fillers (over a
    question, agreement counts: it answers it), not Whisper's spelling of a sound."""
    spoken = _PHRASE.sub("okay", " ".join(words_of(text))).split()
    return {w for w in spoken if not a_sound(w)} - backchannel_words(question)


def is_backchannel(text: str, question: bool = False) -> bool:
    """Something said (at least one word), nothing that asks or tells anything."""
    return bool(words_of(text)) and not real_words(text, question)


class BackchannelFilter(FrameProcessor):
    """Drops a backchannel transcript that arrives while the agent is still talking, or that
    began over a statement a question has followed since."""

    def __init__(self, session: CallSession, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session = session
        # When this turn's speech began over the agent, and whether the caller was hearing a
        # question each time they began: the transcript comes later, when the agent may have
        # moved on to one (a "yeah" said over "It shipped Monday." is no answer to "Shall I
        # cancel it?" that follows). A start over a statement settles it: taking a "go on"
        # for a "yes" could act on it.
        self._question: bool | None = None
        self._over_agent_at: float | None = None
        self._stopped_agent = False  # this speech stopped the agent (a barge-in)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._began()
        elif isinstance(frame, InterruptionFrame):
            self._stopped_agent = self._over_agent_at is not None
        elif isinstance(frame, TranscriptionFrame):
            question, self._question = bool(self._question), None
            began, self._over_agent_at = self._over_agent_at, None
            stopped, self._stopped_agent = self._stopped_agent, False
            if self._not_a_turn(frame, question, began, stopped):
                if stopped:
                    await self.push_frame(ResumeFrame(), direction)
                return
        await self.push_frame(frame, direction)

    def _began(self) -> None:
        playback = self._session.playback
        asking = playback.asking
        self._question = asking if self._question is None else self._question and asking
        if playback.agent_speaking and self._over_agent_at is None:
            self._over_agent_at = self._session.elapsed()

    def _not_a_turn(
        self, frame: TranscriptionFrame, question: bool, began: float | None, stopped: bool
    ) -> bool:
        """A backchannel, or words Whisper doubts anyone said (noise read as a sentence),
        heard while the agent talks, begun over it before a question, or that stopped it:
        the agent talks on (or waits for the answer to its question)."""
        playback = self._session.playback
        over_agent = playback.agent_speaking or stopped
        asked_since = began is not None and playback.asked_since(began)
        if (over_agent or asked_since) and is_backchannel(frame.text, question):
            self._session.event("backchannel", text=frame.text, stopped_agent=stopped)
            return True
        utterance = frame.result if isinstance(frame.result, CallerUtterance) else None
        if over_agent and utterance is not None and utterance.transcript.doubtful:
            self._session.event("doubtful_over_agent", text=frame.text, stopped_agent=stopped)
            return True
        return False
