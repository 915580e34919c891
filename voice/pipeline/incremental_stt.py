"""Transcribe a caller's turn while it is spoken, in pieces that end where the voice paused.

Whisper on a CPU takes about as long as the audio it is given is long, so a turn transcribed
whole after it ends makes a long turn wait long for its answer. Here the turn is cut while
the caller speaks: at a pause the VAD heard (`CallerPauseFrame`), once `min_s` of speech is
waiting, that speech becomes a piece and is transcribed at once; speech that runs on for
`max_s` without such a pause is cut in the latest gap between its words. A piece is final
once transcribed (nothing it covers is heard again), so at the turn's end only the speech
after the last piece is left: at most a few seconds, whatever the turn's length.

Cuts fall in quiet (a VAD pause, or a stretch of frames under the voice level), so no word is
cut in two or said twice. What a cut can change is a number: one read across it ("four five
[pause] two one" heard as "45." and "21."), or one read without what led to it ("the number
is four five two one" alone came out "four times two one"). A part that reads out digits is
transcribed again with the part before it (`needs_context`), once the turn is over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voice.engines.digit_strings import ends_in_number, reads_digits, starts_with_number
from voice.pipeline.speech_energy import FLOOR_RMS, RELATIVE, frame_levels

FRAME = 320  # 20 ms at 16 kHz
GAP_FRAMES = 4  # 80 ms under the voice level between two words: a place to cut


@dataclass(frozen=True)
class PiecePolicy:
    """When the speech of a turn becomes a piece (seconds of audio since the last piece)."""

    enabled: bool = True
    min_s: float = 2.0  # a pause makes a piece once this much speech waits (shorter: early STT)
    max_s: float = 10.0  # speech this long without a pause is cut between two words

    def piece_at_pause(self, waiting_s: float) -> bool:
        return self.enabled and waiting_s >= self.min_s

    def cut_unpaused(self, waiting_s: float) -> bool:
        return self.enabled and waiting_s >= self.max_s


def word_gap(samples: np.ndarray, loudest: float, after_s: float, rate: int = 16000) -> int | None:
    """Where to cut speech that has not paused: the middle of its latest gap between words
    (`GAP_FRAMES` frames under the voice level) that leaves at least `after_s` before it, as a
    sample offset into int16-scaled `samples`; None when there is none."""
    levels = frame_levels(samples)
    if levels.size == 0:
        return None
    quiet = levels <= max(FLOOR_RMS, RELATIVE * max(loudest, float(levels.max())))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    first_frame = int(after_s * rate) // FRAME
    for start, end in reversed(list(zip(edges[::2], edges[1::2], strict=True))):
        middle = (int(start) + int(end)) // 2
        if end - start >= GAP_FRAMES and middle >= first_frame and end < levels.size:
            return middle * FRAME  # a gap that reaches the end is the pause the VAD will tell
    return None


def needs_context(before: str, after: str) -> bool:
    """Whether the part after a cut should be transcribed again with the part before it: it
    reads out digits (read best with what led to them), or a number may run across the cut."""
    return reads_digits(after) or number_across(before, after)


def number_across(before: str, after: str) -> bool:
    """Whether a number may run across the cut between two pieces' transcripts."""
    return ends_in_number(before) and starts_with_number(after)
