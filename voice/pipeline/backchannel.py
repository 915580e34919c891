"""Backchannels: "mm-hm", "okay", "yeah" said while the agent talks mean "go on", not "stop".

`is_backchannel` tells such a transcript from a turn. The barge-in detector does not count
these words (voice/pipeline/barge_in.py), and `BackchannelFilter`, between the transcriber
and the responder, keeps a backchannel heard while the agent is talking from becoming a turn
that would cut the agent's reply short and answer "okay" (it is still stored as said, and
logged as a `backchannel` event).

"yes" and "no" are never backchannels: they may answer the question the agent just asked.
"""

from __future__ import annotations

import re

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.session import CallSession

BACKCHANNEL_WORDS = frozenset(
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
        "okay",
        "ok",
        "k",
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
# Whole phrases, after the words above were checked one by one ("i see": "i" alone is not).
_PHRASES = ("i see", "got it", "all right", "sounds good")


def words_of(text: str) -> list[str]:
    # "I'm" is one word, not "i" and "m"; "mm-hm" one too.
    return re.findall(r"[a-z]+(?:['’-][a-z]+)*", text.lower())


def is_backchannel(text: str) -> bool:
    """Only backchannel words (at least one), nothing that asks or tells anything."""
    lowered = " ".join(words_of(text))
    for phrase in _PHRASES:
        lowered = lowered.replace(phrase, "okay")
    words = lowered.split()
    return bool(words) and len(words) <= 4 and all(w in BACKCHANNEL_WORDS for w in words)


def content_words(text: str) -> int:
    """Words that are not backchannels or fillers: what makes an interruption real."""
    return sum(w not in BACKCHANNEL_WORDS for w in words_of(text))


class BackchannelFilter(FrameProcessor):
    """Drops a backchannel transcript that arrives while the agent is still talking."""

    def __init__(self, session: CallSession, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session = session

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if (
            isinstance(frame, TranscriptionFrame)
            and self._session.playback.agent_speaking
            and is_backchannel(frame.text)
        ):
            self._session.event("backchannel", text=frame.text)
            return
        await self.push_frame(frame, direction)
