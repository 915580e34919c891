"""Assemble the voice pipeline of one call around a transport the telephony edge provides."""

from __future__ import annotations

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.base_transport import BaseTransport

from voice.barge_in import BargeInDetector
from voice.engines import VoiceEngines
from voice.responder import ConversationResponder, PlanObserver
from voice.session import CallSession
from voice.settings import Settings
from voice.speaker import SentenceSpeaker
from voice.transcriber import TurnTranscriber
from voice.turn_manager import TurnManager

PIPELINE_IN_RATE = 16000  # Whisper and Silero want 16 kHz; Twilio's 8 kHz is upsampled
PIPELINE_OUT_RATE = 8000  # what Twilio plays; TTS audio is resampled once, at the transport


def build_call_pipeline(transport: BaseTransport, session: CallSession, engines: VoiceEngines,
                        turns: TurnManager, settings: Settings,
                        observer: PlanObserver | None = None,
                        ) -> tuple[PipelineWorker, ConversationResponder]:
    """caller audio -> VAD -> barge-in -> STT -> turn manager + LLM -> TTS -> caller."""
    vad = SileroVADAnalyzer(sample_rate=PIPELINE_IN_RATE, params=VADParams(
        confidence=settings.vad_confidence, start_secs=settings.vad_start_secs,
        stop_secs=settings.vad_stop_secs))
    responder = ConversationResponder(
        session, engines.llm, turns, language=settings.stt_language,
        silence_reprompt_secs=settings.silence_reprompt_secs,
        silence_max_reprompts=settings.silence_max_reprompts, observer=observer)
    pipeline = Pipeline([
        transport.input(),
        VADProcessor(vad_analyzer=vad),
        BargeInDetector(session, settings.barge_in_min_secs),
        TurnTranscriber(session, engines.stt, settings.vad_start_secs, settings.vad_stop_secs,
                        sample_rate=PIPELINE_IN_RATE),
        responder,
        SentenceSpeaker(session, engines.tts),
        transport.output(),
    ])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=PIPELINE_IN_RATE,
                              audio_out_sample_rate=PIPELINE_OUT_RATE),
        enable_rtvi=False,
        idle_timeout_secs=None,  # silence handling is the turn manager's job, not a timeout's
        conversation_id=session.call_sid,
    )
    return worker, responder
