"""Our local models as minimal pipecat services, for the baseline pipeline in `bench/`.

The baseline is built the way pipecat's own Twilio example builds a bot, with pipecat's
`WhisperSTTService`; pipecat ships no service for a local transformers LLM or for hibari,
so these wrap ours and stream the way pipecat's services do: the LLM pushes
`LLMFullResponseStartFrame`, one `LLMTextFrame` per piece of text, `LLMFullResponseEndFrame`
(as `BaseOpenAILLMService` does); the TTS is a `TTSService` whose `run_tts` gets one
aggregated sentence and yields its audio (as `KokoroTTSService` does).

Models are loaded once per process and shared by every call, as our server does, so that
neither side pays model loading inside a measured turn.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings, TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

from voice.engines.llm import Message, TransformersLLM
from voice.engines.models import whisper_base_dir
from voice.engines.tts import HibariEngine, SpeechSynthesizer


@functools.cache
def shared_whisper() -> Any:
    """The packaged Whisper base, CPU int8: what `WhisperSTTService._load` builds, once."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8")
    list(model.transcribe(np.zeros(16000, dtype=np.float32), language="en")[0])  # warm, as ours
    return model


@functools.cache
def shared_llm() -> TransformersLLM:
    llm = TransformersLLM(device="cpu")
    llm.warm_up()
    return llm


@functools.cache
def shared_tts() -> SpeechSynthesizer:
    """Our hibari engine behind the same loudness normalisation our speaker uses."""
    tts = SpeechSynthesizer(HibariEngine())
    tts.synthesize_sync("Hello.")
    return tts


class SharedWhisperSTTService(WhisperSTTService):
    """pipecat's `WhisperSTTService`, unchanged except that the model is loaded once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            device="cpu",
            compute_type="int8",
            settings=WhisperSTTService.Settings(
                model=str(whisper_base_dir()), language=Language.EN
            ),
            **kwargs,
        )

    def _load(self) -> None:
        self._model = shared_whisper()


def context_messages(context: LLMContext) -> list[Message]:
    """The chat messages a plain chat template takes (text only: no tools here)."""
    messages: list[Message] = []
    for message in context.get_messages():
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            continue
        role = "system" if message.get("role") == "developer" else str(message.get("role"))
        messages.append({"role": role, "content": message["content"]})
    return messages


class LocalLLMService(LLMService):
    """Streams our transformers LLM into the pipeline like pipecat's OpenAI service."""

    def __init__(self, llm: TransformersLLM, **kwargs: Any) -> None:
        settings = LLMSettings(
            model=llm.name,
            system_instruction=None,
            temperature=None,
            max_tokens=llm.max_new_tokens,
            top_p=None,
            top_k=None,
            frequency_penalty=None,
            presence_penalty=None,
            seed=None,
            filter_incomplete_user_turns=False,
            user_turn_completion_config=None,
            use_provider_thinking_default=False,
        )
        super().__init__(settings=settings, **kwargs)
        self._llm = llm

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_processing_metrics()
        await self.start_ttfb_metrics()
        try:
            async for text in self._llm.stream(context_messages(frame.context)):
                await self.stop_ttfb_metrics()
                await self._push_llm_text(text)
        except Exception as exc:  # reported like pipecat's services report theirs
            await self.push_error(error_msg=f"Error during completion: {exc}", exception=exc)
        finally:
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())


class LocalTTSService(TTSService):
    """Our hibari voice as a pipecat `TTSService`: one sentence in, its audio out."""

    def __init__(self, tts: SpeechSynthesizer, **kwargs: Any) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=tts.engine.name, voice=None, language=Language.EN),
            **kwargs,
        )
        self._tts = tts
        self._resampler = create_stream_resampler()

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        try:
            await self.start_tts_usage_metrics(text)
            pcm = await self._tts.synthesize(text)
            await self.stop_ttfb_metrics()
            audio = await self._resampler.resample(pcm, self._tts.sample_rate, self.sample_rate)
            if audio:
                yield TTSAudioRawFrame(
                    audio=audio, sample_rate=self.sample_rate, num_channels=1, context_id=context_id
                )
        except Exception as exc:
            yield ErrorFrame(error=f"TTS failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()


__all__ = ["LocalLLMService", "LocalTTSService", "SharedWhisperSTTService"]
