"""Whisper on a window cut to the utterance vs the full 30 s window: speed and words.

Caller turns: every `say:` line of the eval scenarios (synthesised with the packaged voice)
and the sample WAVs, each sent through the phone path (8 kHz mu-law and back to 16 kHz).
For each decoding it prints the time per utterance, the word error rate against the text
the caller said, and how many transcripts differ from the full-window one.

    .venv/bin/python bench/stt_window.py [--quick] [--numbers 40]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from telephony.audio_files import mulaw_decode, mulaw_encode  # noqa: E402
from voice.engines.digit_strings import reads_digits  # noqa: E402
from voice.engines.stt import SpeechToText  # noqa: E402
from voice.engines.whisper_window import WindowedWhisper  # noqa: E402

SAMPLE_TEXTS = {
    "hello.wav": "Hi, I'm calling about my order.",
    "order_status.wav": "Where is my order? The number is four five two one.",
    "goodbye.wav": "That's all, thank you. Goodbye.",
    "long_question.wav": "I ordered a blue jacket two weeks ago and it still has not arrived, "
    "can you tell me when it will be delivered and whether I can change "
    "the address?",
    "agent_please.wav": "Can I talk to a person please?",
}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def phone(audio: np.ndarray, rate: int) -> np.ndarray:
    """What reaches our Whisper: 8 kHz mu-law, upsampled to 16 kHz again."""
    narrow = soxr.resample(audio.astype(np.float32), rate, 8000)
    pcm = mulaw_decode(mulaw_encode((np.clip(narrow, -1, 1) * 32767).astype(np.int16)))
    return soxr.resample(pcm.astype(np.float32) / 32768.0, 8000, 16000).astype(np.float32)


def words(text: str) -> list[str]:
    """Lower case, no punctuation, digits spelled one by one ("4521" -> four five two one)."""
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text.lower())
    return re.sub(r"[^a-z' ]+", " ", text.replace(" oh ", " zero ")).split()


def digits(text: str) -> str:
    """The digits said or written, in order ("four five two one" and "4-521" -> "4521")."""
    spoken = {w: str(i) for i, w in enumerate(DIGITS)} | {"oh": "0"}
    found = [spoken.get(w, "") for w in re.sub(r"[^a-z ]+", " ", text.lower()).split()]
    return "".join(found) + re.sub(r"\D", "", text)


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def utterances(cache: Path) -> list[tuple[str, np.ndarray]]:
    from voice.engines.tts import HibariEngine

    tts = HibariEngine()
    items = []
    for path in sorted((ROOT / "data" / "scenarios").glob("*.yaml")):
        for turn in yaml.safe_load(path.read_text())["turns"]:
            if "say" in turn:
                audio = tts.synthesize(turn["say"])
                items.append((turn["say"], phone(audio * 0.8 / np.abs(audio).max(), 24000)))
    for name, text in SAMPLE_TEXTS.items():
        audio, rate = sf.read(ROOT / "data" / "samples" / name, dtype="float32")
        items.append((text, phone(audio, rate)))
    return items


NUMBER_LINES = [
    "My order number is {}.",
    "It's order {}.",
    "The card ends in {}.",
    "Where is my order? The number is {}.",
    "{}.",
    "Yes, it's {}, I think.",
    "I'd like to return the shoes from order {}, please.",
    "The account number is {}.",
]


def number_utterances(count: int, seed: int = 15) -> list[tuple[str, np.ndarray]]:
    """Digit strings read digit by digit, in the packaged voice and in espeak (phone path)."""
    from bench.turn_set import RATE, Turn, render_turn

    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        said = " ".join(DIGITS[d] for d in rng.integers(0, 10, size=int(rng.integers(4, 7))))
        text = NUMBER_LINES[i % len(NUMBER_LINES)].format(said)
        text = text[0].upper() + text[1:]
        for voice in ("natural", "espeak"):
            audio = render_turn(Turn((text,), voice), seed=i)
            items.append((text, phone(audio, RATE)))
    return items


def run(name: str, decode: Callable[[np.ndarray], str], items, full: list[str] | None) -> list[str]:
    texts, times, errors, total, numbers, numbers_right = [], [], 0, 0, 0, 0
    for reference, audio in items:
        started = time.perf_counter()
        text = decode(audio)
        times.append(time.perf_counter() - started)
        texts.append(text)
        e, n = wer(reference, text)
        errors, total = errors + e, total + n
        if digits(reference):  # digit by digit only: "forty five thirty three" is not
            numbers += 1
            numbers_right += digits(reference) == digits(text)
    differ = "" if full is None else sum(a != b for a, b in zip(texts, full, strict=True))
    print(
        f"| {name} | {statistics.median(times) * 1000:.0f} | {max(times) * 1000:.0f} | "
        f"{errors / total:.3f} | {numbers_right} of {numbers} | {differ} |"
    )
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print differing transcripts")
    parser.add_argument(
        "--numbers", type=int, default=0, help="instead: N digit strings in two voices each"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the full window, the 10 s one and today's default (10 s, digit strings again)",
    )
    args = parser.parse_args()
    stt = SpeechToText(window=False)
    stt.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        items = number_utterances(args.numbers) if args.numbers else utterances(Path(tmp))
    print(f"machine: {describe()}\nutterances: {len(items)}\n")
    print("| decoding | median ms | max ms | WER | digit strings right | differs from full |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    full = run(
        "full 30 s window, detect then decode (before)",
        lambda a: stt.transcribe_sync(a).text,
        items,
        None,
    )
    results = {}
    windows = [(10, 3)] if args.quick else [(10, 3), (15, 3), (20, 3), (30, 3)]
    for min_s, pad_s in windows:
        window = WindowedWhisper(stt.model, beam_size=1, min_window_s=min_s, pad_s=pad_s)
        results[(min_s, pad_s)] = run(
            f"window >= {min_s} s, speech + {pad_s} s, one encoder pass",
            lambda a, w=window: w.decode(a, "en", True, 0.8).text,
            items,
            full,
        )
    for min_s in (10,) if args.quick else (10, 15):
        short = SpeechToText(min_window_s=float(min_s))
        results[(min_s, "numbers at 30")] = run(
            f"window >= {min_s} s, digit strings decoded again at 30 s (STT_WINDOW_SECS={min_s})",
            lambda a, s=short: s.transcribe_sync(a).text,
            items,
            full,
        )
    again = sum(reads_digits(text) for text in results[(10, 3)])
    print(f"\n{again} of {len(items)} utterances read out a digit string in the 10 s window")
    if args.show:
        for key, texts in results.items():
            for (reference, _), a, b in zip(items, full, texts, strict=True):
                if a != b:
                    print(f"{key}: {reference!r}\n   full: {a!r}\n   window: {b!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
