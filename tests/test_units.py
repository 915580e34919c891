"""The pieces that need no server: sentence splitting, playback tracking, the recorder."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from voice.pipeline.playback import PlaybackTracker
from voice.pipeline.sentences import SentenceSplitter
from voice.store.recorder import CallRecorder


def split_stream(text: str, step: int = 3) -> list[str]:
    splitter, out = SentenceSplitter(), []
    for i in range(0, len(text), step):
        out += splitter.feed(text[i : i + step])
    return out + splitter.flush()


def test_sentences_come_out_as_soon_as_they_end():
    splitter = SentenceSplitter()
    assert splitter.feed("Your order shipped on Monday. It") == ["Your order shipped on Monday."]
    assert splitter.feed(" arrives") == []
    assert splitter.flush() == ["It arrives"]


def test_sentences_respect_abbreviations_decimals_and_markdown():
    text = "Dr. Smith sees you at 3.30 p.m. on Friday! **Anything else?** Bye."
    assert split_stream(text) == [
        "Dr. Smith sees you at 3.30 p.m. on Friday!",
        "Anything else?",
        "Bye.",
    ]


def test_playback_keeps_what_was_heard_up_to_the_clear():
    now = [0.0]
    tracker = PlaybackTracker(lambda: now[0])
    a = tracker.queued(1, 0, "Your order shipped on Monday.", 2.0, last=False)
    b = tracker.queued(
        1, 1, "It should arrive by Thursday afternoon at the latest.", 4.0, last=False
    )
    assert tracker.agent_speaking and a.started_at == 0.0 and b.started_at is None
    now[0] = 2.0
    assert tracker.mark_played(a.mark) is a
    now[0] = 4.0  # half-way through the second sentence
    dropped = tracker.cleared()
    assert dropped == [b] and not tracker.agent_speaking
    assert tracker.heard_text(1) == "Your order shipped on Monday. It should arrive by"
    assert tracker.mark_played(b.mark) is None  # echoed after the clear: already settled


def tone(seconds: float, rate: int = 8000, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16).tobytes()


def test_recorder_aligns_channels_and_drops_cleared_audio(tmp_path: Path):
    rec = CallRecorder(tmp_path, "CAtest")
    rec.caller_audio(tone(0.5), timestamp_ms=0)
    rec.caller_audio(tone(0.5), timestamp_ms=1500)  # caller spoke again 1.5 s in
    rec.agent_audio(tone(3.0))  # queued at ~0 s: plays 0..3 s unless cleared
    time.sleep(0.6)
    rec.agent_cleared()  # the caller heard ~0.6 s of it
    time.sleep(1.6)
    rec.caller_audio(tone(0.02), timestamp_ms=2100)
    rec.event("note", text="hello")
    rec.close("completed")
    audio, rate = sf.read(rec.wav_path, dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    left, right = audio[:, 0].astype(float), audio[:, 1].astype(float)
    loud = lambda x, a, b: np.abs(x[int(a * rate) : int(b * rate)]).mean()  # noqa: E731
    assert loud(left, 0.05, 0.45) > 2000 and loud(left, 0.6, 1.4) < 10
    assert loud(left, 1.55, 1.95) > 2000
    assert loud(right, 0.05, 0.5) > 2000
    assert loud(right, 0.8, 2.0) < 10  # what the clear dropped was never heard
    events = [json.loads(line) for line in rec.events_path.read_text().splitlines()]
    assert [e["type"] for e in events] == ["note", "call_end"]


def _record_then_die(folder: str) -> None:
    rec = CallRecorder(Path(folder), "CAkilled")
    started = time.monotonic()
    while time.monotonic() - started < 3.0:  # 3 s of caller audio, 20 ms at a time
        rec.caller_audio(tone(0.02), timestamp_ms=(time.monotonic() - started) * 1000)
        time.sleep(0.02)
    os._exit(1)  # like SIGKILL: no close(), no flush


def test_recording_survives_a_killed_process(tmp_path: Path):
    process = multiprocessing.get_context("spawn").Process(
        target=_record_then_die, args=(str(tmp_path),)
    )
    process.start()
    process.join(30)
    wav = next(tmp_path.rglob("CAkilled.wav"))
    audio, rate = sf.read(wav, dtype="int16")
    assert audio.shape[1] == 2
    assert len(audio) / rate >= 3.0 - 1.0  # at most the last second is lost


def test_secrets_are_masked_but_order_numbers_stay():
    from voice.privacy import mask_secrets

    assert mask_secrets("my card is 4111 1111 1111 1234") == "my card is [number ending 1234]"
    assert "1111" not in mask_secrets(
        "card four one one one one one one one one one one one one two three four"
    )
    assert mask_secrets("and my pin is 4321") == "and my pin is [secret]"
    assert mask_secrets("where is order 4521") == "where is order 4521"
