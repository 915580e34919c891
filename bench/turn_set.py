"""The realistic caller turns the latency and load benchmarks play (issue 15).

Short and long turns (about 1.5 to 30 s, long ones in several sentences with the pauses
callers leave between them), in a natural voice (the packaged hibari voice) and in espeak's
robotic one, in calls of three to five turns. Some turns are answered from prepared replies
(order status, balance, bookings); others reach the LLM when LLM replies are on
(`LLM_COMPOSE_ANSWERS=true`): complaints, questions the agent does not recognise, policy
questions. Which path a turn took is read from the server's own events, not assumed here.

WAVs are rendered once into a cache folder (16 kHz mono, 0.3 s of silence at each end, as
`data/samples`); the same text and voice always give the same file name.

    .venv/bin/python bench/turn_set.py            # render and list the turns with lengths
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
EDGE_S = 0.3
PAUSE_S = (0.3, 0.45)  # between two sentences of one turn: shorter than VAD_STOP_SECS
PEAK = 0.7  # -3 dBFS, as the sample WAVs


@dataclass(frozen=True)
class Turn:
    sentences: tuple[str, ...]
    voice: str = "natural"  # "natural" (hibari) or "espeak"


def _t(*sentences: str, voice: str = "natural") -> Turn:
    return Turn(tuple(sentences), voice)


def _e(*sentences: str) -> Turn:
    return Turn(tuple(sentences), "espeak")


# Each call is said by the bench's caller (+15550001111, a customer with no open order 4521).
CALLS: list[list[Turn]] = [
    [  # the sample WAVs' words, as before issue 15, in the natural voice
        _t("Hi, I'm calling about my order."),
        _t("Where is my order?", "The number is four five two one."),
        _t(
            "I ordered a blue jacket two weeks ago and it still has not arrived.",
            "Can you tell me when it will be delivered and whether I can change the address?",
        ),
        _t("That's all, thank you.", "Goodbye."),
    ],
    [  # questions the agent does not recognise
        _t("Hello there."),
        _t("Do you sell gift cards?"),
        _t(
            "My employer gave me a voucher for your shop last Christmas.",
            "Can I use it to pay for part of an order, and pay the rest by card?",
        ),
        _t("What is the weather going to be like on Saturday?"),
        _t("Okay, never mind.", "Bye."),
    ],
    [  # a long complaint
        _t("Hello."),
        _t(
            "I want to make a complaint.",
            "The courier left my parcel out in the rain and everything in it got wet.",
            "The box was soaked through, the instructions were ruined, and the jacket inside "
            "still smells damp even after I hung it up for a whole day.",
            "This is the second time it has happened with your courier, and nobody has "
            "called me back about the first one.",
            "I would like to know what you are going to do about it.",
        ),
        _t("No, I don't need a person.", "Just tell me how I can send it back."),
        _t("Thanks.", "Goodbye."),
    ],
    [  # the espeak sample WAVs' voice
        _e("Hi, I'm calling about my order."),
        _e("Where is my order? The number is four five two one."),
        _e(
            "I ordered a blue jacket two weeks ago and it still has not arrived.",
            "Can you tell me when it will be delivered and whether I can change the address?",
        ),
        _e("That's all, thank you. Goodbye."),
    ],
    [  # banking, with a long question about fees
        _t("Hi, what's the balance on my checking account?"),
        _t(
            "Thanks.",
            "I was also looking at my statement last night and there are two charges from a "
            "cafe that I really don't remember making.",
            "One is for twelve dollars and the other one is for about forty.",
            "Is there a way to find out where they came from, and would I get the money back "
            "if it turns out it wasn't me?",
        ),
        _t("Will the bank ever ask me for my PIN over the phone?"),
        _t("Okay, that's everything.", "Bye."),
    ],
    [  # espeak, unrecognised and policy questions
        _e("Hello."),
        _e("Can I order a birthday cake for next week?"),
        _e(
            "I bought running shoes from you last month and I have only worn them twice.",
            "Can I still return them, and how long does the refund take?",
        ),
        _e("No thanks, goodbye."),
    ],
    [  # the clinic, and a very long turn
        _t("Hi, I'd like to book a dental cleaning."),
        _t(
            "Sorry, before that, let me explain something.",
            "Last time I came in, I waited almost forty minutes past my appointment time, "
            "and nobody told me why.",
            "I had to leave work early for that appointment, and in the end I had to rush "
            "back before the cleaning was even finished.",
            "I'm not trying to be difficult, I just want to know if that is going to happen "
            "again, because I can't keep taking afternoons off.",
            "If you can promise me an early morning slot, that would really help.",
        ),
        _t("What is the fee if I miss an appointment?"),
        _t("Alright, thank you very much.", "Goodbye."),
    ],
]


def length_class(seconds: float) -> str:
    if seconds < 5:
        return "short (< 5 s)"
    if seconds < 15:
        return "medium (5-15 s)"
    return "long (15-30 s)"


LENGTH_CLASSES = ["short (< 5 s)", "medium (5-15 s)", "long (15-30 s)"]


def _natural(text: str, _cache: dict = {}) -> np.ndarray:  # noqa: B006 - one voice per process
    if "tts" not in _cache:
        from voice.engines.tts import HibariEngine

        _cache["tts"] = HibariEngine()
    tts = _cache["tts"]
    return soxr.resample(tts.synthesize(text).astype(np.float32), tts.sample_rate, RATE)


def _espeak(text: str) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "160", "-w", tmp.name, text],
            check=True,
            capture_output=True,
        )
        audio, rate = sf.read(tmp.name, dtype="float32")
    return soxr.resample(audio, rate, RATE)


def _trimmed(audio: np.ndarray) -> np.ndarray:
    voiced = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return audio[voiced[0] : voiced[-1] + 1] if voiced.size else audio


def render_turn(turn: Turn, seed: int, pauses: tuple[float, float] = PAUSE_S) -> np.ndarray:
    """The turn's audio: its sentences with pauses between (seconds, drawn from `pauses`),
    0.3 s of silence at each end."""
    rng = np.random.default_rng(seed)
    say = _natural if turn.voice == "natural" else _espeak
    parts = [np.zeros(int(EDGE_S * RATE), np.float32)]
    for i, sentence in enumerate(turn.sentences):
        if i:
            parts.append(np.zeros(int(rng.uniform(*pauses) * RATE), np.float32))
        parts.append(_trimmed(say(sentence)))
    parts.append(np.zeros(int(EDGE_S * RATE), np.float32))
    audio = np.concatenate(parts)
    return (audio * PEAK / max(1e-6, float(np.abs(audio).max()))).astype(np.float32)


def turn_files(
    folder: Path | None = None, calls: list[list[Turn]] | None = None
) -> list[list[Path]]:
    """Each call's turn WAVs, rendered into `folder` (a cache) when not there yet."""
    folder = folder or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = folder / "callcentre" / "bench-turns" if folder.name != "bench-turns" else folder
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for c, call in enumerate(calls or CALLS):
        paths = []
        for t, turn in enumerate(call):
            seed = 1000 * c + t
            key = hashlib.sha1(repr((turn, seed, PAUSE_S, PEAK)).encode()).hexdigest()[:16]
            path = folder / f"{turn.voice}-{key}.wav"
            if not path.exists():
                tmp = path.with_suffix(f".{os.getpid()}.tmp.wav")
                sf.write(tmp, render_turn(turn, seed), RATE, subtype="PCM_16")
                tmp.replace(path)
            paths.append(path)
        out.append(paths)
    return out


def seconds(path: Path) -> float:
    info = sf.info(path)
    return info.frames / info.samplerate


def main() -> int:
    files = turn_files()
    lengths = []
    for c, (call, paths) in enumerate(zip(CALLS, files, strict=True)):
        for turn, path in zip(call, paths, strict=True):
            lengths.append(seconds(path))
            print(f"call {c} {turn.voice:7} {lengths[-1]:5.1f} s  {' '.join(turn.sentences)[:70]}")
    span = f"{min(lengths):.1f}-{max(lengths):.1f} s"
    print(f"\n{len(lengths)} turns, {span}, folder {files[0][0].parent}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
