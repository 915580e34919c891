"""The business's data the agent answers from, opened once per process at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from voice.business import Business
from voice.embeddings import Embedder
from voice.history import CallerHistory
from voice.knowledge import DEFAULT_KNOWLEDGE_DIR, KnowledgeBase
from voice.logs import get_logger
from voice.seeding import SeedError, seed_if_empty
from voice.settings import Settings
from voice.store import Store

log = get_logger(__name__)


@dataclass
class BusinessResources:
    business: Business
    history: CallerHistory
    knowledge: KnowledgeBase

    @classmethod
    def open(cls, store: Store, embedder: Embedder, settings: Settings) -> BusinessResources:
        try:
            counts = seed_if_empty(store.engine)
            if counts:
                log.info("seeded the sample business", **counts)
        except SeedError as exc:  # the agent still answers; look-ups just find nothing
            log.error("could not seed the sample business", error=str(exc))
        business = Business(store.engine)
        knowledge = KnowledgeBase(DEFAULT_KNOWLEDGE_DIR, embedder,
                                  settings.recordings_dir / "knowledge-index")
        if knowledge.reindexed:
            log.info("knowledge re-indexed", files=knowledge.reindexed)
        return cls(business, CallerHistory(store.engine, business), knowledge)
