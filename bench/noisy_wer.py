"""Word error rate on noisy lines over many fresh noise draws, without the server (issue 16).

`bench/noise.py --parts wer` plays a few turns per line through the real server: one call of
6 turns is 81 words, so one misheard word moves its WER by 1.2 points. This script takes the
set's 13 clean natural-voice turns (`bench/noisy_set.py`), mixes each with `--draws` fresh
stretches of synthesised noise at `--snr`, and hears them as the server does: 8 kHz mu-law,
our upsampler (voice/pipeline/upsampler.py) and `SpeechToText` built from the settings.
Numbers are compared as `bench/noise.py` compares them ("4521" = "four five two one").

    .venv/bin/python bench/noisy_wer.py --noises white,cafe --snr 10 --draws 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import noisy_set
from bench.machine import describe
from bench.noise import SET, normalise, wer

FRAME = 160  # 20 ms at 8 kHz, as Twilio sends it
SEED = 7000  # apart from noisy_set's seeds: these stretches are not the set's


def heard_as_the_server_hears(stt, audio_8k: np.ndarray) -> str:
    """The words of float audio at 8 kHz after the phone line and our upsampler."""
    return transcript_as_the_server_hears(stt, audio_8k).text


def transcript_as_the_server_hears(stt, audio_8k: np.ndarray):
    """Whisper's transcript of float audio at 8 kHz after the phone line and our upsampler."""
    from telephony.audio_files import mulaw_decode, mulaw_encode
    from voice.pipeline.upsampler import Upsampler

    pcm = np.clip(audio_8k * 32767, -32768, 32767).astype(np.int16)
    pcm = pcm[: len(pcm) // FRAME * FRAME]
    upsampler = Upsampler(8000, 16000)
    frames = (mulaw_decode(mulaw_encode(pcm[i : i + FRAME])) for i in range(0, len(pcm), FRAME))
    wide = b"".join(upsampler(np.asarray(f, dtype=np.int16).tobytes()) for f in frames)
    return stt.transcribe_sync(np.frombuffer(wide, dtype=np.int16).astype(np.float32) / 32768)


def server_stt():
    """`SpeechToText` as the server builds it from the settings, on the CPU (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from voice.engines.stt import SpeechToText
    from voice.settings import Settings

    settings = Settings()
    return SpeechToText(
        settings.stt_model,
        "cpu",
        settings.stt_beam_size,
        settings.stt_language,
        min_window_s=settings.stt_window_secs,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noises", default="white,cafe,street,car")
    parser.add_argument("--snr", type=float, default=10.0)
    parser.add_argument("--draws", type=int, default=5, help="fresh noise stretches per turn")
    args = parser.parse_args()
    stt = server_stt()
    manifest = json.loads((SET / "manifest.json").read_text())
    turns = [t for t in manifest["turns"] if t["voice"] == "natural" and t["noise"] == "clean"]
    noises = args.noises.split(",")
    babble = noisy_set.make_babble(60) if "cafe" in noises else np.zeros(0)
    print(describe())
    print("| noise | SNR dB | turns | words | WER | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in noises:
        started, refs, hyps = time.perf_counter(), [], []
        for draw in range(args.draws):
            for k, turn in enumerate(turns):
                speech, _ = sf.read(SET / turn["file"], dtype="float64")
                bed = noisy_set.noise(kind, len(speech), SEED + 100 * draw + k, babble)
                line = noisy_set.unclipped(noisy_set.with_noise(speech, bed, args.snr))
                refs.append(normalise(turn["text"]))
                hyps.append(normalise(heard_as_the_server_hears(stt, line)))
        rate, words = wer(refs, hyps)
        took = time.perf_counter() - started
        row = (kind, f"{args.snr:g}", len(refs), words, f"{100 * rate:.1f} %", f"{took:.0f}")
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
