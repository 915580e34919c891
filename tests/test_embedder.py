"""The shared MiniLM embedder: batched shortest first and remembered (issue 15).

The understanding and the sentiment classifier embed the same texts for every caller turn
(the turn whole and its clauses); a vector must not depend on which texts it was batched with
or whether it came from the cache.
"""

from __future__ import annotations

import numpy as np
import pytest

import voice.engines.embeddings as embeddings

LONG = (
    "I want to make a complaint, the courier left my parcel out in the rain and everything in "
    "it got wet, the box was soaked through and the jacket inside still smells damp"
)
SHORT = ["a complaint", "the box was soaked through", "hello"]


@pytest.fixture(scope="module")
def embedder() -> embeddings.Embedder:
    return embeddings.Embedder()


def test_a_vector_is_the_same_alone_in_a_batch_or_remembered(embedder, monkeypatch):
    alone = [embedder._compute([t])[0] for t in [LONG, *SHORT]]
    together = embedder.encode([SHORT[0], LONG, *SHORT[1:], SHORT[0]])
    again = embedder.encode([LONG, *SHORT])
    for got, want in zip(together[1:4], [LONG, *SHORT[1:]], strict=True):
        assert np.allclose(got, alone[[LONG, *SHORT].index(want)], atol=1e-5)
    assert np.allclose(together[0], together[-1]) and np.allclose(together[0], alone[1], atol=1e-5)
    assert np.allclose(again, np.stack(alone), atol=1e-5)
    assert np.allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
    again[0] = 0  # what a caller does with its rows is its own business
    assert np.allclose(embedder.encode([LONG])[0], alone[0], atol=1e-5)


def test_the_remembered_texts_are_bounded(embedder, monkeypatch):
    monkeypatch.setattr(embeddings, "CACHE_TEXTS", 3)
    texts = [f"caller turn number {i}" for i in range(6)]
    vectors = embedder.encode(texts)
    assert vectors.shape == (6, embeddings.DIMENSIONS)
    assert len(embedder._cache) == 3  # the last three
    assert np.allclose(embedder.encode(texts[:1])[0], vectors[0], atol=1e-5)
