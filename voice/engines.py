"""The models every call shares, loaded once per process at start-up."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from voice.embeddings import Embedder
from voice.llm import LanguageModel, load_llm
from voice.logs import get_logger
from voice.models import pick_device
from voice.prompts import load_prompt
from voice.sentences import SentenceSplitter
from voice.settings import Settings
from voice.stt import SpeechToText
from voice.tts import FAULT_ENV, FaultyEngine, SpeechSynthesizer, load_tts

log = get_logger(__name__)

# Fixed lines the caller must still hear if speech synthesis fails mid-call; pre-rendered.
APOLOGY_PROMPT = "speech_trouble"
PREPARED_PROMPTS = ("handoff", "callback", "fallback", "not_heard", "still_there",
                    "goodbye_silence")


@dataclass
class VoiceEngines:
    stt: SpeechToText
    llm: LanguageModel
    tts: SpeechSynthesizer
    embedder: Embedder
    device: str

    @classmethod
    def load(cls, settings: Settings) -> VoiceEngines:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedded default never downloads
        device = pick_device(settings.device)
        started = time.perf_counter()
        stt = SpeechToText(settings.stt_model, device, settings.stt_beam_size,
                           settings.stt_language, batch=settings.stt_batch)
        llm = load_llm(settings.llm_backend, settings.llm_model, device, settings.llm_base_url,
                       settings.llm_api_key, settings.llm_max_new_tokens)
        tts = load_speech(settings)
        embedder = Embedder(device=device)
        stt.warm_up()
        llm.warm_up()
        log.info("models loaded", device=device, llm=llm.name, tts=tts.engine.name,
                 seconds=round(time.perf_counter() - started, 2))
        return cls(stt=stt, llm=llm, tts=tts, embedder=embedder, device=device)


def load_speech(settings: Settings) -> SpeechSynthesizer:
    """The TTS, warmed up by rendering the lines kept for when it fails (see speaker.py)."""
    engine = load_tts(settings.tts_engine, settings.tts_voice)
    fault = os.environ.get(FAULT_ENV, "")
    if fault:
        engine = FaultyEngine(engine, fault)
    tts = SpeechSynthesizer(engine, timeout_s=settings.tts_timeout_s)
    lines = [s for name in PREPARED_PROMPTS for s in sentences(load_prompt(name))]
    tts.prepare(load_prompt(APOLOGY_PROMPT), lines)
    if isinstance(engine, FaultyEngine):
        engine.arm()
        log.warning("fault injection: every speech synthesis will fail", hook=FAULT_ENV,
                    mode=engine.mode)
    return tts


def sentences(text: str) -> list[str]:
    """The sentences the responder speaks for a prepared line (the same splitting)."""
    splitter = SentenceSplitter()
    return [*splitter.feed(text + " "), *splitter.flush()]
