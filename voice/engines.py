"""The models every call shares, loaded once per process at start-up."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from voice.embeddings import Embedder
from voice.llm import LanguageModel, load_llm
from voice.logs import get_logger
from voice.models import pick_device
from voice.settings import Settings
from voice.stt import SpeechToText
from voice.tts import SpeechSynthesizer, load_tts

log = get_logger(__name__)


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
                           settings.stt_language)
        llm = load_llm(settings.llm_backend, settings.llm_model, device, settings.llm_base_url,
                       settings.llm_api_key, settings.llm_max_new_tokens)
        tts = SpeechSynthesizer(load_tts(settings.tts_engine, settings.tts_voice))
        embedder = Embedder(device=device)
        stt.warm_up()
        llm.warm_up()
        tts.synthesize_sync("Hello.")
        log.info("models loaded", device=device, llm=llm.name, tts=tts.engine.name,
                 seconds=round(time.perf_counter() - started, 2))
        return cls(stt=stt, llm=llm, tts=tts, embedder=embedder, device=device)
