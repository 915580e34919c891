"""A pipecat observer that writes when each stage of a turn happened, for the baseline bench.

Times are seconds since the call's `start` message, the same timeline our server's call
events and the simulator use, so the bench can line them up with the caller's speech.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TextIO

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed

# frame type -> event name; only the first push of each frame is logged.
STAGE_FRAMES: dict[type[Frame], str] = {
    VADUserStartedSpeakingFrame: "vad_start",
    VADUserStoppedSpeakingFrame: "vad_stop",
    TranscriptionFrame: "transcript",
    UserStoppedSpeakingFrame: "turn_end",
    LLMFullResponseStartFrame: "llm_start",
    LLMTextFrame: "llm_text",
    TTSStartedFrame: "tts_start",
    TTSAudioRawFrame: "tts_audio",
    BotStartedSpeakingFrame: "bot_speaking",
}
# Frames that stream many times per reply: only the first after each reply start counts.
_ONCE_PER_REPLY = {"llm_text", "tts_audio"}


class StageLog(BaseObserver):
    def __init__(self, path: Path, t0: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self._t0 = t0
        self._file: TextIO = path.open("a", buffering=1)
        self._seen: set[int] = set()
        self._logged_in_reply: set[str] = set()

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        name = STAGE_FRAMES.get(type(frame))
        if name is None or frame.id in self._seen:
            return
        self._seen.add(frame.id)
        if name == "llm_start":
            self._logged_in_reply.clear()
        if name in _ONCE_PER_REPLY:
            if name in self._logged_in_reply:
                return
            self._logged_in_reply.add(name)
        record = {"t": round(time.monotonic() - self._t0, 4), "event": name}
        if isinstance(frame, TranscriptionFrame):
            record["text"] = frame.text
        self._file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._file.close()
