"""Knowledge retrieval with the real MiniLM embedder: accuracy, chunking, and index reuse."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from voice.dialogue.knowledge import MAX_WORDS, KnowledgeBase, chunk_markdown
from voice.engines.embeddings import Embedder, shared_embedder

DOCS = Path(__file__).resolve().parent.parent / "data" / "knowledge"

# (what a caller might ask, the document that answers it)
QUERIES = [
    ("How many days do I have to send something back?", "returns.md"),
    ("When will I get my money back after a return?", "returns.md"),
    ("Can I return earbuds I already opened?", "returns.md"),
    ("The blender arrived broken, what can you do?", "returns.md"),
    ("Can I exchange a shirt for a different size?", "returns.md"),
    ("How long does standard delivery take?", "shipping.md"),
    ("Which carriers do you use to ship orders?", "shipping.md"),
    ("My parcel is late and still hasn't arrived", "shipping.md"),
    ("Do you ship to Canada?", "shipping.md"),
    ("Can I change the delivery address on my order?", "shipping.md"),
    ("Is shipping free?", "shipping.md"),
    ("What time does the shop open on Sunday?", "opening-hours.md"),
    ("Is the dental clinic open on Saturday?", "opening-hours.md"),
    ("What are the opening hours of the bank phone line?", "opening-hours.md"),
    ("Are you open on Thanksgiving?", "opening-hours.md"),
    ("I lost my debit card, what should I do?", "card-security.md"),
    ("Will you ever ask me for my PIN?", "card-security.md"),
    ("Someone called asking for my card number, was that you?", "card-security.md"),
    ("How long until my replacement card arrives?", "card-security.md"),
    ("There's a payment on my statement I don't recognise", "card-security.md"),
    ("How do I reschedule my appointment to next week?", "appointments.md"),
    ("Is there a fee if I cancel my appointment late?", "appointments.md"),
    ("What should I bring to my check-up?", "appointments.md"),
    ("Do I need to fast before a blood test?", "appointments.md"),
    ("How long is a dental cleaning?", "appointments.md"),
]


class CountingEncoder:
    """The real embedder, counting what it is asked to encode."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture(scope="session")
def kb(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase(DOCS, embedder, tmp_path_factory.mktemp("kb") / "index")


def test_top1_retrieval_accuracy(kb: KnowledgeBase):
    misses = []
    for question, expected in QUERIES:
        found = kb.search(question, k=1)
        if not found or found[0].source != expected:
            misses.append((question, expected, found[0].source if found else None))
    accuracy = 1 - len(misses) / len(QUERIES)
    print(
        f"\nknowledge top-1 accuracy: {accuracy:.2f} over {len(QUERIES)} questions; "
        f"misses: {misses}"
    )
    assert accuracy >= 0.85, misses


def test_search_returns_ranked_passages_with_headings(kb: KnowledgeBase):
    passages = kb.search("Is there a fee if I cancel my appointment late?", k=3)
    assert 1 <= len(passages) <= 3
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    best = passages[0]
    assert best.heading == "Clinic appointments > Cancelling and missed appointments"
    assert "$25" in best.text and best.score >= 0.3
    assert kb.search("xylophone quantum spaghetti", min_score=0.6) == []
    assert kb.search("   ") == []


def test_chunks_stay_within_a_section_and_a_size(kb: KnowledgeBase):
    sources = {c.source for c in kb.chunks}
    assert sources == {p.name for p in DOCS.glob("*.md")} and len(sources) == 5
    sizes = [len(c.text.split()) for c in kb.chunks]
    assert max(sizes) <= MAX_WORDS
    assert sum(s >= 40 for s in sizes) / len(sizes) >= 0.8
    assert all(" > " in c.heading or c.heading for c in kb.chunks)


def test_chunking_splits_long_and_merges_short_paragraphs():
    long = " ".join(f"Sentence number {i} has five words." for i in range(60))
    text = f"# Title\n\n## Part\n\nShort one.\n\nShort two.\n\n{long}\n\n## Other\n\nAlone."
    chunks = chunk_markdown(text, "doc.md")
    assert chunks[0].text.startswith("Short one. Short two.")
    assert all(len(c.text.split()) <= MAX_WORDS for c in chunks)
    assert chunks[-1].heading == "Title > Other" and chunks[-1].text == "Alone."
    assert {c.heading for c in chunks[:-1]} == {"Title > Part"}


def test_index_is_reused_and_rebuilt_only_for_changed_files(embedder: Embedder, tmp_path: Path):
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    index = tmp_path / "index" / "kb"
    counter = CountingEncoder(embedder)
    first = KnowledgeBase(docs, counter, index)
    assert len(counter.calls) == 1 and len(counter.calls[0]) == len(first.chunks)
    assert (tmp_path / "index" / "kb.npz").exists() and (tmp_path / "index" / "kb.json").exists()

    counter.calls.clear()
    second = KnowledgeBase(docs, counter, index)
    assert counter.calls == [] and second.reindexed == []
    assert second.chunks == first.chunks

    with (docs / "appointments.md").open("a") as fh:
        fh.write(
            "\n## Parking\n\nFree parking for patients is in the garage behind the "
            "Downtown clinic; bring your ticket to reception to have it validated.\n"
        )
    third = KnowledgeBase(docs, counter, index)
    assert third.reindexed == ["appointments.md"]
    assert len(counter.calls) == 1
    assert {t.split(":")[0].split(" > ")[0] for t in counter.calls[0]} == {"Clinic appointments"}
    assert third.search("Where can I park my car at the clinic?", k=1)[0].heading.endswith(
        "Parking"
    )

    counter.calls.clear()
    (docs / "shipping.md").unlink()
    fourth = KnowledgeBase(docs, counter, index)
    assert counter.calls == [] and "shipping.md" not in {c.source for c in fourth.chunks}
    assert not fourth.refresh()


def test_the_knowledge_dir_setting_chooses_the_documents(tmp_path: Path):
    """KNOWLEDGE_DIR: another business's policies are what the agent answers from."""
    from voice.engines.resources import BusinessResources
    from voice.settings import Settings
    from voice.store.calls import Store

    assert Settings(_env_file=None).knowledge_dir == DOCS  # absolute: any working folder
    docs = tmp_path / "policies"
    docs.mkdir()
    (docs / "pets.md").write_text(
        "# Pets\n\n## Dogs\n\nDogs on a lead are welcome in the "
        "shop every day of the week, except at the food counter.\n"
    )
    settings = Settings(_env_file=None, RECORDINGS_DIR=tmp_path, KNOWLEDGE_DIR=docs)
    resources = BusinessResources.open(Store(settings.database), shared_embedder(), settings)
    assert {c.source for c in resources.knowledge.chunks} == {"pets.md"}
