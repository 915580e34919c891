"""Make the noisy-line test set from the sample caller turns (issue 16).

No recording of a real person goes in: the caller turns are the espeak-ng samples in
`data/samples/`, the noise is synthesised here with numpy/scipy from fixed seeds, and the
babble is other espeak-ng voices. Everything is at Twilio's 8 kHz, the rate the phone line
carries, and the simulator adds the line's mu-law itself.

    .venv/bin/python bench/noisy_set.py            # writes bench/noisy-set/ (gitignored)

What it writes (`manifest.json` lists every file with its reference text and condition):

* `turns/<noise>-<snr>dB/<voice>-<turn>.wav`: each caller turn (the five samples and eight
  more sentences, in the samples' espeak-ng voice and in our TTS's natural voice) mixed with
  a stretch of that noise at 20, 10 and 5 dB SNR (speech level measured on its voiced frames,
  noise on the whole stretch), plus `turns/clean/<voice>-<turn>.wav`.
* `beds/<noise>-<snr>dB.wav`: 60 s of the noise alone, at the level that gives that SNR
  against the sample caller's average speech level. The benchmark plays a bed under a whole
  call (`telephony/phone_line.py`), so the agent hears the noise while it talks too.
* `backchannels/<word>.wav`: "okay", "yeah", "yeah, yeah", "uh-huh", "right" in the caller's
  voice, said over the agent by the benchmark. No "mm-hm": espeak-ng spells it out ("M-M-A-K-M"
  to Whisper) and our TTS's voice says "man"; a hummed one cannot be made here.
* echo conditions (delay 50-300 ms, attenuation 10-30 dB, phone band 300-3400 Hz): applied
  live by `telephony/phone_line.py` to the audio the agent is actually playing, since what
  comes back depends on what the agent says; `echo/<delay>ms-<atten>dB.wav` renders the
  greeting in our own TTS voice through each of them, for listening and offline checks.

Noise types (all synthesised; the script is the licence: Apache-2.0 with the project):

* white: Gaussian white noise.
* street: pink noise, traffic passing by (low-passed brown noise under slow swells), and now
  and then a horn (two detuned square-ish tones).
* cafe: babble of eight espeak-ng voices (other accents, pitches and speeds than the caller's)
  reading unrelated sentences, lightly smeared with a synthetic room reverb, plus dish clinks
  (decaying high-passed noise bursts) over a pink-noise floor.
* car: engine rumble (a 28-40 Hz firing frequency with harmonics, drifting), brown-noise road
  rumble low-passed at 250 Hz, and wind/tyre noise (pink, low-passed at 1.2 kHz).

Needs Debian's espeak-ng for the babble and the backchannels (`apt-get install -y espeak-ng`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATE = 8000
OUT = ROOT / "bench" / "noisy-set"
SAMPLES = ROOT / "data" / "samples"
SNRS_DB = (20, 10, 5)
NOISES = ("street", "cafe", "car", "white")
BED_S = 60.0
ECHO_DELAYS_MS = (50, 150, 300)
ECHO_ATTENUATIONS_DB = (10, 20, 30)
SEED = 16  # the number; every generator below derives its seed from it

TURNS = {
    "hello": "Hi, I'm calling about my order.",
    "order_status": "Where is my order? The number is four five two one.",
    "goodbye": "That's all, thank you. Goodbye.",
    "long_question": (
        "I ordered a blue jacket two weeks ago and it still has not arrived, can you tell me "
        "when it will be delivered and whether I can change the address?"
    ),
    "agent_please": "Can I talk to a person please?",
}
# More caller sentences in the same recipe, so that a word error rate rests on more than the
# five samples' 59 words (the samples come first; these are made here, never committed).
EXTRA_TURNS = {
    "refund": "I would like a refund for the shoes I sent back last week.",
    "address": "Can you change the delivery address to twelve Baker Street?",
    "card_lost": "I think I lost my card, can you block it please?",
    "appointment": "I need to book an appointment for next Tuesday morning.",
    "balance": "What is the balance on my account right now?",
    "wrong_item": "The parcel came today but it has the wrong size in it.",
    "opening": "What time do you open on Saturday?",
    "cancel": "Please cancel the order I placed yesterday evening.",
}
# The caller voices: the samples' espeak-ng voice, and our own TTS's packaged voice (hibari
# "heart"), a natural-sounding one. Whisper hears espeak's robotic voice worse ("calling him
# out my order" on a clean line), which would hide what noise does.
VOICES = ("espeak", "natural")
BACKCHANNELS = {
    "yeah_yeah": "Yeah, yeah.",  # in place of "Mm-hm.", which espeak-ng spells out
    "okay": "Okay.",
    "yeah": "Yeah.",
    "uhhuh": "Uh-huh.",
    "right": "Right.",
}
# Babble: voices other than the caller's (en-us, default variant, 160 wpm).
BABBLE_VOICES = [
    ("en-gb+f3", 150, 60),
    ("en-gb-scotland+m3", 170, 40),
    ("en-us+f4", 180, 70),
    ("en-029+m2", 140, 35),
    ("en-gb-x-rp+f2", 165, 55),
    ("en-us+m7", 155, 30),
    ("en-gb-x-gbclan+f1", 175, 65),
    ("en+klatt2", 160, 50),
]
BABBLE_TEXT = [
    "The weather was lovely on Sunday so we took the children down to the river.",
    "I think the new bakery on the corner makes the best bread in town, honestly.",
    "Did you see the match last night? What a finish, nobody expected that goal.",
    "We are thinking of painting the kitchen green, or maybe a pale yellow instead.",
    "My sister moved to the coast last spring and she loves being near the sea.",
    "If the train is late again tomorrow I will just cycle to work, it is quicker.",
    "They say the museum has a new exhibition about old maps and sailing ships.",
    "Could you pass the sugar please, and one of those little spoons as well?",
    "The garden needs a lot of work after all that rain we had last month.",
    "He has been learning the piano for two years and he practises every evening.",
]


# -- levels -------------------------------------------------------------------------------------


def voiced_power(x: np.ndarray, frame: int = 160) -> float:
    """Mean power of the frames that carry voice (above 5 % of the loudest frame's RMS):
    a speech level that the silence around a turn does not dilute."""
    count = len(x) // frame
    frames = x[: count * frame].reshape(count, frame).astype(np.float64)
    power = (frames**2).mean(axis=1)
    rms = np.sqrt(power)
    return float(power[rms > 0.05 * rms.max()].mean())


def scale_to_power(noise: np.ndarray, power: float) -> np.ndarray:
    return noise * np.sqrt(power / max(float(np.mean(noise.astype(np.float64) ** 2)), 1e-20))


def with_noise(speech: np.ndarray, stretch: np.ndarray, snr_db: float) -> np.ndarray:
    """`speech` with `stretch` of noise `snr_db` below the speech's voiced level."""
    return speech + scale_to_power(stretch, voiced_power(speech) / 10 ** (snr_db / 10))


# -- synthesised noise ---------------------------------------------------------------------------


def coloured(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with a 1/f**exponent power spectrum (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    spectrum /= f ** (exponent / 2)
    x = np.fft.irfft(spectrum, n)
    return x / np.std(x)


def lowpass(x: np.ndarray, hz: float, order: int = 4) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, hz, "low", fs=RATE, output="sos"), x)


def highpass(x: np.ndarray, hz: float, order: int = 4) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, hz, "high", fs=RATE, output="sos"), x)


def white(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def street(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / RATE
    floor = coloured(rng, n, 1.0)
    traffic = lowpass(coloured(rng, n, 2.0), 400)
    traffic /= np.std(traffic)
    swell = np.zeros(n)
    for centre in rng.uniform(0, n / RATE, size=max(1, int(n / RATE / 4))):  # a car every ~4 s
        width = rng.uniform(1.0, 2.5)
        swell += rng.uniform(0.5, 1.5) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    x = 0.5 * floor + traffic * (0.4 + 2.0 * swell)
    for start in rng.uniform(0, n / RATE - 1, size=max(1, int(n / RATE / 15))):  # a horn
        i, length = int(start * RATE), int(rng.uniform(0.25, 0.6) * RATE)
        tt = np.arange(length) / RATE
        pitch = rng.uniform(350, 450)
        tone = np.sign(np.sin(2 * np.pi * pitch * tt)) + np.sign(
            np.sin(2 * np.pi * pitch * 1.26 * tt)
        )
        x[i : i + length] += 1.5 * lowpass(tone, 2500) * np.hanning(length) ** 0.2
    return x


def car(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / RATE
    firing = (
        34
        + 6 * np.sin(2 * np.pi * t / rng.uniform(15, 25))
        + np.cumsum(rng.standard_normal(n)) * (0.5 / np.sqrt(RATE))
    )
    phase = 2 * np.pi * np.cumsum(firing) / RATE
    engine = sum(np.sin(k * phase) / k for k in range(1, 8))
    road = lowpass(coloured(rng, n, 2.0), 250)
    wind = lowpass(coloured(rng, n, 1.0), 1200)
    return 0.8 * engine / np.std(engine) + road / np.std(road) + 0.35 * wind / np.std(wind)


def cafe(rng: np.random.Generator, n: int, babble: np.ndarray) -> np.ndarray:
    talk = np.roll(babble, int(rng.integers(len(babble))))
    talk = np.resize(talk, n)
    x = talk / np.std(talk) + 0.3 * coloured(rng, n, 1.0)
    for start in rng.uniform(0, n / RATE - 0.3, size=max(1, int(n / RATE / 2))):  # a clink
        i, length = int(start * RATE), int(0.25 * RATE)
        burst = highpass(rng.standard_normal(length), 2000) * np.exp(-np.arange(length) / 300)
        x[i : i + length] += rng.uniform(1.0, 3.0) * burst
    return x


def espeak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's rendering of `text`, float at 8 kHz, its own silences trimmed."""
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is missing: apt-get install -y espeak-ng")
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name, text],
            check=True,
            capture_output=True,
        )
        audio, rate = sf.read(tmp.name, dtype="float32")
    audio = soxr.resample(audio, rate, RATE).astype(np.float64)
    loud = np.flatnonzero(np.abs(audio) > 0.005 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def make_babble(seconds: float) -> np.ndarray:
    """Eight other voices talking at once in a room, `seconds` long."""
    rng = np.random.default_rng(SEED + 1)
    n = int(seconds * RATE)
    room = rng.standard_normal(int(0.25 * RATE)) * np.exp(-np.arange(int(0.25 * RATE)) / 500)
    room[0] = 8.0  # the direct sound, then the room's decay
    total = np.zeros(n)
    for k, (voice, speed, pitch) in enumerate(BABBLE_VOICES):
        parts, length = [], 0
        order = rng.permutation(len(BABBLE_TEXT))
        while length < n:
            for j in order:
                parts.append(espeak(BABBLE_TEXT[j], voice, speed, pitch))
                parts.append(np.zeros(int(rng.uniform(0.1, 0.6) * RATE)))
                length += len(parts[-2]) + len(parts[-1])
        talker = np.roll(np.concatenate(parts)[:n], int(rng.integers(n)))
        talker = signal.fftconvolve(talker, room)[:n]
        total += rng.uniform(0.6, 1.0) * talker / (np.std(talker) + 1e-9)
        print(f"  babble voice {k + 1}/{len(BABBLE_VOICES)}", file=sys.stderr)
    return total


def noise(kind: str, n: int, seed: int, babble: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "cafe":
        x = cafe(rng, n, babble)
    else:
        x = {"white": white, "street": street, "car": car}[kind](rng, n)
    x = x - x.mean()
    return x / np.std(x)


# -- files ---------------------------------------------------------------------------------------


def read8k(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float64")
    return soxr.resample(audio, rate, RATE, quality="HQ") if rate != RATE else audio


def unclipped(audio: np.ndarray) -> np.ndarray:
    """Never clip: a louder mix is scaled down whole (its SNR unchanged)."""
    peak = np.abs(audio).max()
    return audio * (0.999 / peak) if peak > 0.999 else audio


def write(path: Path, audio: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), unclipped(audio), RATE, subtype="PCM_16")
    return str(path.relative_to(OUT))


def natural_voice():
    from voice.engines.tts import load_tts

    return load_tts("hibari")


def say(voice: str, text: str, tts=None) -> np.ndarray:
    """One caller turn as data/samples/make_samples.sh makes it: peak -3 dBFS, 0.3 s pads."""
    if voice == "espeak":
        speech = espeak(text, "en-us", 160, 50)
    else:
        speech = soxr.resample(tts.synthesize(text), tts.sample_rate, RATE).astype(np.float64)
        loud = np.flatnonzero(np.abs(speech) > 0.005 * np.abs(speech).max())
        speech = speech[loud[0] : loud[-1] + 1]
    speech *= 10 ** (-3 / 20) / np.abs(speech).max()
    pad = np.zeros(int(0.3 * RATE))
    return np.concatenate([pad, speech, pad])


def backchannel(text: str) -> np.ndarray:
    """The caller's voice (as data/samples/make_samples.sh makes it): peak -3 dBFS, 0.3 s pads."""
    speech = espeak(text, "en-us", 160, 50)
    speech *= 10 ** (-3 / 20) / np.abs(speech).max()
    pad = np.zeros(int(0.3 * RATE))
    return np.concatenate([pad, speech, pad])


def echo_examples(out: Path) -> list[dict]:
    """The greeting in our own TTS voice through each echo condition, as the caller's phone
    would send it back with nobody talking (for listening and offline checks)."""
    from telephony.phone_line import EchoPath
    from voice.engines.tts import TARGET_PEAK, load_tts

    greeting = (ROOT / "prompts" / "greeting.txt").read_text().strip()
    tts = load_tts("hibari")
    voice = soxr.resample(tts.synthesize(greeting), tts.sample_rate, RATE).astype(np.float64)
    voice *= TARGET_PEAK * 32767 / np.abs(voice).max()
    rows = []
    for delay in ECHO_DELAYS_MS:
        for attenuation in ECHO_ATTENUATIONS_DB:
            path = EchoPath(delay, attenuation)
            padded = np.concatenate([voice, np.zeros(RATE // 2)])
            back = np.concatenate(
                [path.frame(padded[i : i + 160]) for i in range(0, len(padded) - 159, 160)]
            )
            name = f"{delay}ms-{attenuation}dB.wav"
            rows.append(
                {
                    "delay_ms": delay,
                    "attenuation_db": attenuation,
                    "text": greeting,
                    "file": write(out / "echo" / name, back / 32767),
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    tts = natural_voice()
    texts = TURNS | EXTRA_TURNS
    turns = {("espeak", name): read8k(SAMPLES / f"{name}.wav") for name in TURNS}
    turns |= {("espeak", name): say("espeak", text) for name, text in EXTRA_TURNS.items()}
    turns |= {("natural", name): say("natural", text, tts) for name, text in texts.items()}
    speech_power = {name: voiced_power(audio) for name, audio in turns.items()}
    # The beds' level: the five sample turns' average speech level (both voices are at -3 dBFS
    # peak, so their speech levels are alike).
    reference_power = float(np.mean([speech_power[("espeak", name)] for name in TURNS]))
    babble = make_babble(BED_S + 5)
    manifest: dict = {
        "rate": RATE,
        "seed": SEED,
        "snrs_db": list(SNRS_DB),
        "noises": list(NOISES),
        "reference_speech_dbfs": round(10 * np.log10(reference_power), 2),
        "turns": [],
        "beds": [],
        "backchannels": [],
        "echo": {
            "delays_ms": list(ECHO_DELAYS_MS),
            "attenuations_db": list(ECHO_ATTENUATIONS_DB),
            "band_hz": [300, 3400],
            "applied": "live, by telephony/phone_line.py, to the agent audio as played",
        },
    }
    for (voice, name), audio in turns.items():
        manifest["turns"].append(
            {
                "turn": name,
                "voice": voice,
                "sample": name in TURNS and voice == "espeak",
                "text": texts[name],
                "noise": "clean",
                "snr_db": None,
                "file": write(out / "turns" / "clean" / f"{voice}-{name}.wav", audio),
            }
        )
    for k, kind in enumerate(NOISES):
        bed = noise(kind, int((BED_S + 10) * RATE), SEED * 100 + k, babble)
        for snr in SNRS_DB:
            level = reference_power / 10 ** (snr / 10)
            manifest["beds"].append(
                {
                    "noise": kind,
                    "snr_db": snr,
                    "file": write(
                        out / "beds" / f"{kind}-{snr}dB.wav",
                        scale_to_power(bed[: int(BED_S * RATE)], level),
                    ),
                }
            )
            rng = np.random.default_rng(SEED * 1000 + k * 10 + snr)
            for (voice, name), audio in turns.items():
                start = int(rng.integers(0, len(bed) - len(audio)))
                stretch = bed[start : start + len(audio)]
                folder = out / "turns" / f"{kind}-{snr}dB"
                manifest["turns"].append(
                    {
                        "turn": name,
                        "voice": voice,
                        "sample": name in TURNS and voice == "espeak",
                        "text": texts[name],
                        "noise": kind,
                        "snr_db": snr,
                        "file": write(
                            folder / f"{voice}-{name}.wav", with_noise(audio, stretch, snr)
                        ),
                    }
                )
        print(f"{kind}: done", file=sys.stderr)
    for name, text in BACKCHANNELS.items():
        manifest["backchannels"].append(
            {
                "word": name,
                "text": text,
                "file": write(out / "backchannels" / f"{name}.wav", backchannel(text)),
            }
        )
    manifest["echo"]["examples"] = echo_examples(out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"wrote {len(manifest['turns'])} turns, {len(manifest['beds'])} beds, "
        f"{len(manifest['backchannels'])} backchannels to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
