"""False barge-ins from background noise, over many minutes of agent speech (issue 16).

`bench/noise.py` plays whole calls through the server, about 50 s of agent speech a call, too
little to tell "at most one false barge-in per 10 minutes" from "one per minute". This plays
fresh noise (the generators of `bench/noisy_set.py`, new seeds, at the set's speech level
less the SNR) down a phone line (mu-law, 8 kHz, our upsampler) into the caller's VAD, built
as the server builds it, while the agent is taken to be talking all the time. Each stretch of
speech the VAD finds is then treated as `voice/pipeline/barge_in.py` treats it: with
`BARGE_IN_WORDS`, Whisper's barge-in check at `BARGE_IN_MIN_SECS` and every `RECHECK_S`
while it goes on; without, the VAD's speech alone once it lasts `BARGE_IN_MIN_SECS`.
No echo here (`bench/noise.py` measures echo): the echo gate passes noise untouched.

    .venv/bin/python bench/noise_barge.py --minutes 10 --snr 10
    .venv/bin/python bench/noise_barge.py --minutes 2 --noises cafe --env BARGE_IN_WORDS=0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import noisy_set  # noqa: E402
from bench.machine import describe  # noqa: E402
from telephony.audio_files import mulaw_decode, mulaw_encode  # noqa: E402
from voice.engines.stt import SpeechToText  # noqa: E402
from voice.logs import configure_logging  # noqa: E402
from voice.pipeline.barge_in import (  # noqa: E402
    MAX_CHECK_S,
    PREROLL_S,
    recheck_after,
    words_heard,
    words_needed,
    words_said,
)
from voice.pipeline.build import PIPELINE_IN_RATE, caller_vad  # noqa: E402
from voice.pipeline.upsampler import Upsampler  # noqa: E402
from voice.settings import Settings  # noqa: E402

FRAME_8K = 160  # a 20 ms media message
SEED = 1600  # not the set's seeds: noise the set never had


def phone_noise(kind: str, minutes: float, snr_db: float, seed: int) -> np.ndarray:
    """`minutes` of new noise at the set's speech level less `snr_db`, as int16 at 8 kHz."""
    manifest = json.loads((noisy_set.OUT / "manifest.json").read_text())
    speech_power = 10 ** (manifest["reference_speech_dbfs"] / 10)
    n = int(minutes * 60 * noisy_set.RATE)
    babble = noisy_set.make_babble(minutes * 60 + 5) if kind == "cafe" else np.zeros(0)
    bed = noisy_set.noise(kind, n, seed, babble)
    level = speech_power / 10 ** (snr_db / 10)
    scaled = noisy_set.scale_to_power(bed, level)
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


async def false_barge_ins(audio: np.ndarray, settings: Settings, stt: SpeechToText) -> dict:
    """Stretches the VAD calls speech, and those that would have stopped the agent."""
    vad = caller_vad(settings)
    vad.set_sample_rate(PIPELINE_IN_RATE)  # what the pipeline's start does
    up = Upsampler(noisy_set.RATE, PIPELINE_IN_RATE)
    kept: list[np.ndarray] = []
    t, start, next_check, stopped, stretches, checks = 0.0, None, 0.0, False, 0, 0
    events: list[dict] = []
    for i in range(0, len(audio) - FRAME_8K + 1, FRAME_8K):
        line = mulaw_decode(mulaw_encode(audio[i : i + FRAME_8K]))  # what Twilio carries
        pcm = up(line.astype(np.int16).tobytes())
        kept.append(np.frombuffer(pcm, dtype=np.int16))
        kept = kept[-int(MAX_CHECK_S * 50) :]
        t += FRAME_8K / noisy_set.RATE
        state = (await vad.analyze_audio(pcm)).name  # STOPPING: still speaking, as in pipecat
        if start is None and state == "SPEAKING":
            start, next_check, stopped = t - settings.vad_start_secs, 0.0, False
            stretches += 1
        elif state in ("QUIET", "STARTING"):
            start = None
        if start is None or stopped or t - start < settings.barge_in_min_secs:
            continue
        spoken, heard = t - start, ""
        if not settings.barge_in_words:
            stopped = True
        elif spoken >= next_check:
            keep = int(min(spoken + PREROLL_S, MAX_CHECK_S) * PIPELINE_IN_RATE)
            said = np.concatenate(kept)[-keep:].astype(np.float32) / 32768.0
            transcript = await stt.transcribe_check(said)
            checks += 1
            found = words_heard(transcript)
            needed = words_needed(settings.barge_in_words, spoken)
            stopped, heard = found >= needed, transcript.text
            recheck = recheck_after(words_said(transcript))
            next_check = max(spoken, settings.barge_in_min_secs) + recheck
        if stopped:
            events.append({"at_s": round(t, 2), "heard": heard})
    return {"speech_stretches": stretches, "checks": checks, "false_barge_ins": events}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="of noise per line")
    parser.add_argument("--snr", type=float, default=10.0)
    parser.add_argument("--noises", default="cafe,street,car,white")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for item in args.env:
        key, _, value = item.partition("=")
        os.environ[key] = value
    configure_logging("WARNING", as_json=False)
    settings = Settings()
    stt = SpeechToText()
    rows = {}
    began = time.monotonic()
    for k, kind in enumerate(args.noises.split(",")):
        audio = phone_noise(kind, args.minutes, args.snr, SEED + k)
        rows[kind] = await false_barge_ins(audio, settings, stt)
        print(f"{kind} done", file=sys.stderr)
    print(f"\nFalse barge-ins from noise at {args.snr:g} dB SNR, {args.minutes:g} min a line\n")
    print("| noise | VAD speech stretches | words checks | false barge-ins | per 10 min |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, row in rows.items():
        count = len(row["false_barge_ins"])
        print(
            f"| {kind} | {row['speech_stretches']} | {row['checks']} | {count} | "
            f"{count / args.minutes * 10:.1f} |"
        )
    for kind, row in rows.items():
        for event in row["false_barge_ins"]:
            print(f"  {kind} at {event['at_s']} s: {event['heard']!r}")
    chosen = {
        "BARGE_IN_WORDS": settings.barge_in_words,
        "BARGE_IN_MIN_SECS": settings.barge_in_min_secs,
        "VAD_MIN_VOLUME": settings.vad_min_volume,
    }
    print(f"\nmachine: {describe()}")
    print(f"settings: {chosen}; {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"settings": chosen, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
