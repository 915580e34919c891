"""Twilio's outbound buffer for the agent's audio: played 20 ms a tick, marks echoed when the
audio queued before them has played, everything dropped on `clear`."""

from __future__ import annotations

from collections import deque

import numpy as np

from telephony.audio_files import FRAME_SAMPLES

SILENT_FRAME = np.zeros(FRAME_SAMPLES, dtype=np.int16)


class Playout:
    """Twilio's outbound buffer: agent audio and marks in arrival order, played 20 ms a tick."""

    def __init__(self) -> None:
        self._queue: deque[np.ndarray | str] = deque()
        # Marks reached in the middle of the frame now playing: echoed once it has played.
        self._due: list[str] = []

    @property
    def empty(self) -> bool:
        """True when no agent audio is waiting to be played."""
        return not any(isinstance(item, np.ndarray) for item in self._queue)

    def add_audio(self, pcm: np.ndarray) -> None:
        if pcm.size:
            self._queue.append(pcm)

    def add_mark(self, name: str) -> None:
        self._queue.append(name)

    def clear(self) -> list[str]:
        """Drop all queued audio; returns every pending mark, to be echoed at once."""
        marks = self._due + [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        self._due = []
        return marks

    def tick(self) -> tuple[np.ndarray, list[str], bool]:
        """Start playing the next 20 ms.

        Returns the frame, the marks whose audio has now finished playing, and whether the
        frame holds any queued audio at all.
        """
        finished, self._due = self._due, []
        while self._queue and isinstance(head := self._queue[0], str):
            self._queue.popleft()
            finished.append(head)  # nothing before it is left to play
        frame = SILENT_FRAME.copy()
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            head = self._queue.popleft()
            if isinstance(head, str):
                self._due.append(head)
                continue
            take = min(FRAME_SAMPLES - filled, head.size)
            frame[filled : filled + take] = head[:take]
            filled += take
            if take < head.size:
                self._queue.appendleft(head[take:])
        return frame, finished, filled > 0
