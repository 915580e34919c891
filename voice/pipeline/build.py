"""Assemble the voice pipeline of one call around a transport the telephony edge provides."""

from __future__ import annotations

from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.base_transport import BaseTransport

from voice.conversation import Conversation
from voice.engines.loaded import VoiceEngines
from voice.pipeline.backchannel import BackchannelFilter
from voice.pipeline.barge_in import BargeInDetector
from voice.pipeline.echo import AgentEcho, EchoGate, EchoReference
from voice.pipeline.incremental_stt import PiecePolicy
from voice.pipeline.responder import ConversationResponder
from voice.pipeline.shared_vad import SharedSileroVADAnalyzer
from voice.pipeline.smart_turn import shared_smart_turn
from voice.pipeline.speaker import SentenceSpeaker
from voice.pipeline.transcriber import TurnTranscriber
from voice.pipeline.turn_end import TurnEndDetector, TurnTiming
from voice.session import CallSession
from voice.settings import Settings

PIPELINE_IN_RATE = 16000  # Whisper and Silero want 16 kHz; Twilio's 8 kHz is upsampled
PIPELINE_OUT_RATE = 8000  # what Twilio plays; TTS audio is resampled once, at the transport


def turn_timing(settings: Settings) -> TurnTiming:
    """The turn-end silences, from the settings."""
    return TurnTiming(
        pause_s=settings.turn_pause_secs,
        complete_s=settings.turn_complete_secs,
        stop_s=settings.vad_stop_secs,
        complete_probability=settings.smart_turn_threshold,
    )


def caller_vad(settings: Settings) -> SharedSileroVADAnalyzer:
    """The VAD on the caller's audio: its stops are the short pauses the turn end judges."""
    timing = turn_timing(settings)
    return SharedSileroVADAnalyzer(
        sample_rate=PIPELINE_IN_RATE,
        params=VADParams(
            confidence=settings.vad_confidence,
            start_secs=settings.vad_start_secs,
            min_volume=settings.vad_min_volume,
            stop_secs=min(timing.pause_s, timing.stop_s),
        ),
    )


def build_call_pipeline(
    transport: BaseTransport,
    session: CallSession,
    engines: VoiceEngines,
    conversation: Conversation,
    settings: Settings,
) -> tuple[PipelineWorker, ConversationResponder]:
    """caller audio -> VAD + turn end -> barge-in -> STT -> turn manager + LLM -> TTS -> caller.

    The VAD reports short pauses; the turn-end detector decides which pause ends the turn.
    """
    timing = turn_timing(settings)
    vad = caller_vad(settings)
    smart_turn = shared_smart_turn if settings.smart_turn else None
    responder = ConversationResponder(
        session,
        conversation,
        language=settings.stt_language,
        voices=engines.tts.languages,
        silence_reprompt_secs=settings.silence_reprompt_secs,
        silence_max_reprompts=settings.silence_max_reprompts,
    )
    echo = AgentEcho() if settings.echo_gate else None
    pipeline = Pipeline(
        [
            transport.input(),
            *([EchoGate(session, echo)] if echo else []),
            VADProcessor(vad_analyzer=vad),
            TurnEndDetector(session, timing, smart_turn, sample_rate=PIPELINE_IN_RATE),
            BargeInDetector(
                session,
                settings.barge_in_min_secs,
                engines.stt,
                words=settings.barge_in_words,
                sample_rate=PIPELINE_IN_RATE,
            ),
            TurnTranscriber(
                session,
                engines.stt,
                settings.vad_start_secs,
                settings.vad_stop_secs,
                sample_rate=PIPELINE_IN_RATE,
                early=settings.early_stt,
                pieces=PiecePolicy(
                    settings.incremental_stt,
                    settings.stt_piece_min_secs,
                    max(settings.stt_piece_max_secs, settings.stt_piece_min_secs),
                ),
            ),
            *([BackchannelFilter(session)] if settings.backchannel_filter else []),
            responder,
            SentenceSpeaker(session, engines.tts),
            *([EchoReference(echo)] if echo else []),
            transport.output(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=PIPELINE_IN_RATE, audio_out_sample_rate=PIPELINE_OUT_RATE
        ),
        enable_rtvi=False,
        idle_timeout_secs=None,  # silence handling is the turn manager's job, not a timeout's
        conversation_id=session.call_sid,
    )
    return worker, responder
