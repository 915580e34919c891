"""The business's data the agent answers from, opened once per process at start-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from voice.business import Business
from voice.dialogue.classifier import TurnClassifier
from voice.dialogue.knowledge import KnowledgeBase
from voice.dialogue.understanding import Reader
from voice.engines.embeddings import Embedder
from voice.escalation.policy import EscalationConfig, EscalationPolicy
from voice.escalation.sentiment import DEFAULT_MODEL, SentimentClassifier
from voice.logs import get_logger
from voice.settings import Settings
from voice.store.calls import Store
from voice.store.history import CallerHistory
from voice.store.seeding import SeedError, seed_if_empty

log = get_logger("voice.resources")  # the name its logs have always carried


@dataclass
class BusinessResources:
    business: Business
    history: CallerHistory
    knowledge: KnowledgeBase
    sentiment: SentimentClassifier
    reader: Reader  # the trained understanding of caller turns, one per process

    @classmethod
    def open(
        cls,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> BusinessResources:
        """`now`: the clinics' clock (default the settings', AGENT_TODAY when pinned)."""
        try:
            counts = seed_if_empty(store.engine, today=settings.agent_today)
            if counts:
                log.info("seeded the sample business", **counts)
        except SeedError as exc:  # the agent still answers; look-ups just find nothing
            log.error("could not seed the sample business", error=str(exc))
        business = Business(store.engine, now=now or settings.now)
        knowledge = KnowledgeBase(
            settings.knowledge_dir, embedder, settings.recordings_dir / "knowledge-index"
        )
        if knowledge.reindexed:
            log.info("knowledge re-indexed", files=knowledge.reindexed)
        if not knowledge.chunks:  # a mistyped KNOWLEDGE_DIR would otherwise go unnoticed
            log.warning("no policy documents", folder=str(settings.knowledge_dir))
        sentiment = SentimentClassifier.load(settings.sentiment_model or DEFAULT_MODEL, embedder)
        reader = Reader(TurnClassifier.load(embedder))
        return cls(business, CallerHistory(store.engine, business), knowledge, sentiment, reader)

    @staticmethod
    def escalation_policy(settings: Settings) -> EscalationPolicy:
        """One per call, configured from settings."""
        return EscalationPolicy(
            EscalationConfig(
                window_turns=settings.escalation_window_turns,
                negative_threshold=settings.escalation_negative_threshold,
                upset_probability=settings.escalation_upset_probability,
                min_negative_turns=settings.escalation_min_negative_turns,
                sharp_threshold=settings.escalation_sharp_threshold,
                sharp_probability=settings.escalation_sharp_probability,
                sharp_min_words=settings.escalation_sharp_min_words,
                repeat_failures=settings.escalation_repeat_failures,
            )
        )
