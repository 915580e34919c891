"""How a caller feels, and how likely a person should take over, from what they said.

One multinomial logistic regression over MiniLM sentence embeddings, trained by
`voice.escalation.sentiment_training`. Its classes are (intent, sentiment) pairs from the labelled
data ("human_request_polite/neutral", "sarcasm/negative", "third_party_praise/positive", ...); the
sentiment probabilities and the escalation probability are marginals over them. "Should a
person take over" is a union of unlike things (a polite request, a threat, sarcasm, distress)
that no single hyperplane separates well, while each intent on its own is nearly linear in
embedding space.

Features: the whole utterance's embedding plus the element-wise max and min over its clauses'
embeddings, so "the courier was rude but you've been lovely" keeps both halves instead of one
blurred average. Lexicons score words, not situations ("I have been waiting two weeks and
nobody helps me" has no negative word in it); embeddings carry the situation.

The weights ship as plain arrays (`.npz`) beside a metadata file (`.json`): loading runs no
pickled code and needs no scikit-learn; prediction is a matrix product and a softmax.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "data" / "models" / "sentiment-v1.npz"
LABELS = ("negative", "neutral", "positive")
CLAUSE_BREAK = re.compile(r"[,.;:!?]+|\bbut\b|\band\b|\bbecause\b", re.IGNORECASE)


class TextEncoder(Protocol):
    """What the classifier needs from `voice.engines.embeddings.Embedder`."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SentimentScore:
    """One utterance's reading.

    `score` is P(positive) - P(negative), in [-1, 1]; `escalation_probability` is the
    probability that the caller wants a person or is upset enough that one should take over;
    `intent` is the most likely intent class (e.g. "human_request_polite", "factual").
    """

    label: str
    score: float
    escalation_probability: float
    probabilities: dict[str, float] = field(default_factory=dict)
    intent: str = ""


NEUTRAL = SentimentScore(
    "neutral", 0.0, 0.0, {"negative": 0.0, "neutral": 1.0, "positive": 0.0}, "silence"
)


@dataclass(frozen=True)
class ClassifierWeights:
    """logits = features @ coef.T + intercept, one row per "intent/sentiment" class."""

    coef: np.ndarray  # (n_classes, 3 * embedding dim)
    intercept: np.ndarray  # (n_classes,)
    classes: tuple[str, ...]
    escalating_intents: frozenset[str]

    def marginals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """0/1 matrices that sum class probabilities into sentiment (classes x 3), escalation
        (classes,) and intent (classes x intents) probabilities, and the intent names."""
        pairs = [c.split("/") for c in self.classes]
        intents = sorted({intent for intent, _ in pairs})
        sentiment = np.array([[s == label for label in LABELS] for _, s in pairs], np.float32)
        escalate = np.array([i in self.escalating_intents for i, _ in pairs], np.float32)
        by_intent = np.array([[i == name for name in intents] for i, _ in pairs], np.float32)
        return sentiment, escalate, by_intent, intents


def clauses(text: str) -> list[str]:
    parts = [p.strip() for p in CLAUSE_BREAK.split(text)]
    return [p for p in parts if len(p) > 1] or [text]


def features(embedder: TextEncoder, texts: list[str]) -> np.ndarray:
    """[whole, max over clauses, min over clauses] embeddings, one batch for all of them."""
    pieces = [clauses(t) for t in texts]
    flat = list(texts) + [c for cs in pieces for c in cs]
    vectors = embedder.encode(flat)
    whole, parts = vectors[: len(texts)], vectors[len(texts) :]
    spans = list(pairwise(np.cumsum([0] + [len(cs) for cs in pieces])))
    highs = [parts[a:b].max(axis=0) for a, b in spans]
    lows = [parts[a:b].min(axis=0) for a, b in spans]
    return np.hstack([whole, np.stack(highs), np.stack(lows)]).astype(np.float32)


class SentimentClassifier:
    """Safe to share between threads once built: prediction only reads the weights."""

    def __init__(
        self,
        weights: ClassifierWeights,
        embedder: TextEncoder,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.weights = weights
        self.embedder = embedder
        self.metadata = metadata or {}
        self._sentiment, self._escalate, self._by_intent, self._intents = weights.marginals()

    @classmethod
    def load(
        cls, path: Path | str = DEFAULT_MODEL, embedder: TextEncoder | None = None
    ) -> SentimentClassifier:
        """Read `<name>.npz` and its `<name>.json`; the packaged embedder unless one is given."""
        path = Path(path)
        metadata = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as arrays:
            weights = ClassifierWeights(
                coef=arrays["coef"],
                intercept=arrays["intercept"],
                classes=tuple(metadata["classes"]),
                escalating_intents=frozenset(metadata["escalating_intents"]),
            )
        if embedder is None:
            from voice.engines.embeddings import shared_embedder

            embedder = shared_embedder()
        return cls(weights, embedder, metadata)

    def save(self, path: Path | str) -> tuple[Path, Path]:
        """Write the weights (`.npz`) and the metadata (`.json`); returns both paths."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays, meta = path.with_suffix(".npz"), path.with_suffix(".json")
        np.savez(
            arrays,
            coef=self.weights.coef.astype(np.float32),
            intercept=self.weights.intercept.astype(np.float32),
        )
        metadata = {
            **self.metadata,
            "classes": list(self.weights.classes),
            "escalating_intents": sorted(self.weights.escalating_intents),
        }
        meta.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        return arrays, meta

    def predict(self, text: str) -> SentimentScore:
        return self.predict_many([text])[0]

    def predict_many(self, texts: list[str]) -> list[SentimentScore]:
        """Blank transcripts (STT heard nothing) read as neutral rather than as noise."""
        spoken = [i for i, t in enumerate(texts) if t.strip()]
        scores = [NEUTRAL] * len(texts)
        if spoken:
            matrix = features(self.embedder, [texts[i].strip() for i in spoken])
            for i, score in zip(spoken, self.predict_features(matrix), strict=True):
                scores[i] = score
        return scores

    def predict_features(self, matrix: np.ndarray) -> list[SentimentScore]:
        """Scores for rows built by `features()`."""
        probs = _softmax(matrix @ self.weights.coef.T + self.weights.intercept)
        sentiment = probs @ self._sentiment
        escalate = np.clip(probs @ self._escalate, 0.0, 1.0)
        intents = [self._intents[k] for k in (probs @ self._by_intent).argmax(axis=1)]
        return [
            self._score(s, float(e), i)
            for s, e, i in zip(sentiment, escalate, intents, strict=True)
        ]

    @staticmethod
    def _score(sentiment: np.ndarray, escalate: float, intent: str) -> SentimentScore:
        probs = {label: float(p) for label, p in zip(LABELS, sentiment, strict=True)}
        label = max(probs, key=probs.__getitem__)
        score = float(np.clip(probs["positive"] - probs["negative"], -1.0, 1.0))
        return SentimentScore(label, score, escalate, probs, intent)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
