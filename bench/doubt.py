"""Which transcripts Whisper doubts (`Transcript.doubtful`): callers' words or noise alone.

Cafe babble alone was read as whole sentences ("I'll see you in the next one.", a goodbye
that ended the call in `bench/noise.py`). A transcript is doubtful when Whisper's no-speech
probability is over `DOUBT_NO_SPEECH` and its mean log-probability under `DOUBT_LOGPROB`;
nothing acts on doubtful words. This script hears, as the server does (8 kHz mu-law, our
upsampler, `SpeechToText` from the settings):

* callers' sentences: the set's turns (`bench/noisy_set.py`), clean and in noise;
* short answers ("Yes.", "No, thanks.", "Tuesday."), the words that matter most, in the set's
  two voices, clean and in cafe, white and street noise;
* noise alone: stretches of 0.5-2 s of the set's beds, nobody speaking;

and counts how many of each Whisper read as speech and how many it doubted. The thresholds
were chosen on `--split dev`; `--split held-out` hears other short answers and other noise
stretches (other seeds), and only the short answers and the noise.

    .venv/bin/python bench/doubt.py --split dev
    .venv/bin/python bench/doubt.py --split held-out
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import noisy_set
from bench.machine import describe
from bench.noise import SET
from bench.noisy_wer import server_stt, transcript_as_the_server_hears

SPLITS = {
    "dev": {
        "answers": [
            "Yes.", "No.", "Yes, please.", "No, thanks.", "Yeah.", "Okay.", "That's right.",
            "Bye.", "Four five two one.", "Cancel it.", "A person, please.", "Refund.",
            "Tuesday.", "Nope.", "Sure.",
        ],
        "seed": 900,
        "noise_seed": 5,
        "sentences": True,
    },
    "held-out": {
        "answers": [
            "Yes, that is right.", "No.", "Yep.", "Not really.", "Twelve.", "My card.",
            "Thursday morning.", "Speak to someone.", "It is broken.", "Nine three one.",
            "Please do.", "Wrong size.",
        ],
        "seed": 4200,
        "noise_seed": 77,
        "sentences": False,
    },
}  # fmt: skip
LINES = (("clean", None), ("cafe", 10), ("white", 10), ("street", 10), ("cafe", 5))
BEDS = ("cafe-10dB", "cafe-5dB", "street-10dB", "white-10dB")
PAD = np.zeros(noisy_set.RATE // 2)  # the server frames a turn with silence around it


def answers(stt, texts: list[str], seed: int, tally: Counter, seen: Counter) -> None:
    tts, babble = noisy_set.natural_voice(), noisy_set.make_babble(30)
    for voice in noisy_set.VOICES:
        for text in texts:
            speech = np.concatenate([PAD, noisy_set.say(voice, text, tts), PAD])
            for kind, snr in LINES:
                for draw in range(1 if snr is None else 2):
                    line = speech
                    if snr is not None:
                        bed = noisy_set.noise(kind, len(speech), seed + draw, babble)
                        line = noisy_set.unclipped(noisy_set.with_noise(speech, bed, snr))
                    row = f"answers, {kind}" + (f" {snr} dB" if snr else "")
                    count(stt, line, row, tally, seen)


def sentences(stt, tally: Counter, seen: Counter) -> None:
    manifest = json.loads((SET / "manifest.json").read_text())
    for turn in manifest["turns"]:
        if turn["noise"] in ("clean", "cafe", "white", "street") and turn["snr_db"] != 20:
            audio, _ = sf.read(SET / turn["file"], dtype="float64")
            snr = f" {turn['snr_db']} dB" if turn["snr_db"] else ""
            count(stt, audio, f"sentences, {turn['noise']}{snr}", tally, seen)


def noise_alone(stt, seed: int, tally: Counter, seen: Counter) -> None:
    rng = np.random.default_rng(seed)
    for name in BEDS:
        bed, _ = sf.read(SET / "beds" / f"{name}.wav", dtype="float64")
        for _ in range(40):
            n = int(rng.uniform(0.5, 2.0) * noisy_set.RATE)
            start = int(rng.integers(0, len(bed) - n))
            count(stt, bed[start : start + n], f"noise alone, {name}", tally, seen)


def count(stt, audio_8k: np.ndarray, row: str, tally: Counter, seen: Counter) -> None:
    transcript = transcript_as_the_server_hears(stt, audio_8k)
    seen[row] += 1
    if transcript.is_speech:
        tally[(row, "speech")] += 1
        tally[(row, "doubtful")] += transcript.doubtful
        if os.environ.get("VERBOSE"):
            sure = f"{transcript.no_speech_probability:.2f} / {transcript.avg_logprob:.2f}"
            print(f"  {row}: {transcript.text!r} (no-speech / log-prob {sure})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="dev")
    args = parser.parse_args()
    stt = server_stt()
    from voice.engines.stt import DOUBT_LOGPROB, DOUBT_NO_SPEECH

    split = SPLITS[args.split]
    tally: Counter = Counter()
    seen: Counter = Counter()
    if split["sentences"]:
        sentences(stt, tally, seen)
    answers(stt, split["answers"], split["seed"], tally, seen)
    noise_alone(stt, split["noise_seed"], tally, seen)
    print(describe())
    print(f"split: {args.split}; doubtful = no-speech > {DOUBT_NO_SPEECH} and log-prob < "
          f"{DOUBT_LOGPROB}\n")  # fmt: skip
    print("| what was heard | clips | read as speech | doubted |")
    print("| --- | ---: | ---: | ---: |")
    for row in seen:
        print(f"| {row} | {seen[row]} | {tally[(row, 'speech')]} | {tally[(row, 'doubtful')]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
