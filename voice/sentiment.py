"""How a caller feels, and how likely they want (or need) a person, from what they said.

Two logistic regressions over MiniLM sentence embeddings (trained by
`voice.sentiment_training`): a three-way sentiment classifier and a binary "should a person
take over" classifier. Lexicons score words, not situations ("I have been waiting two weeks and
nobody helps me" has no negative word in it); embeddings carry the situation.

The weights ship as plain arrays (`.npz`) beside a metadata file (`.json`), so loading runs no
pickled code and needs no scikit-learn: prediction is a matrix product and a softmax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "data" / "models" / "sentiment-v1.npz"
LABELS = ("negative", "neutral", "positive")


class TextEncoder(Protocol):
    """What the classifier needs from `voice.embeddings.Embedder`."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SentimentScore:
    """One utterance's reading.

    `score` is P(positive) - P(negative), in [-1, 1]; `escalation_probability` is the separate
    model's probability that a person should take over after this utterance.
    """

    label: str
    score: float
    escalation_probability: float
    probabilities: dict[str, float] = field(default_factory=dict)


NEUTRAL = SentimentScore("neutral", 0.0, 0.0, {"negative": 0.0, "neutral": 1.0, "positive": 0.0})


@dataclass(frozen=True)
class ClassifierWeights:
    """The two linear models: logits = X @ coef.T + intercept."""

    sentiment_coef: np.ndarray  # (3, dim), rows in `labels` order
    sentiment_intercept: np.ndarray  # (3,)
    escalate_coef: np.ndarray  # (dim,)
    escalate_intercept: float
    labels: tuple[str, ...] = LABELS


class SentimentClassifier:
    """Thread-safe once built: prediction only reads the weights."""

    def __init__(self, weights: ClassifierWeights, embedder: TextEncoder,
                 metadata: dict[str, Any] | None = None) -> None:
        self.weights = weights
        self.embedder = embedder
        self.metadata = metadata or {}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_MODEL,
             embedder: TextEncoder | None = None) -> SentimentClassifier:
        """Read `<name>.npz` and its `<name>.json`; the packaged embedder unless one is given."""
        path = Path(path)
        metadata = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as arrays:
            weights = ClassifierWeights(
                sentiment_coef=arrays["sentiment_coef"],
                sentiment_intercept=arrays["sentiment_intercept"],
                escalate_coef=arrays["escalate_coef"],
                escalate_intercept=float(arrays["escalate_intercept"]),
                labels=tuple(metadata["labels"]),
            )
        if embedder is None:
            from voice.embeddings import shared_embedder

            embedder = shared_embedder()
        return cls(weights, embedder, metadata)

    def save(self, path: Path | str) -> tuple[Path, Path]:
        """Write the weights (`.npz`) and metadata (`.json`); returns both paths."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        w = self.weights
        arrays, meta = path.with_suffix(".npz"), path.with_suffix(".json")
        np.savez(arrays, sentiment_coef=w.sentiment_coef.astype(np.float32),
                 sentiment_intercept=w.sentiment_intercept.astype(np.float32),
                 escalate_coef=w.escalate_coef.astype(np.float32),
                 escalate_intercept=np.float32(w.escalate_intercept))
        metadata = {**self.metadata, "labels": list(w.labels)}
        meta.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        return arrays, meta

    def predict(self, text: str) -> SentimentScore:
        return self.predict_many([text])[0]

    def predict_many(self, texts: list[str]) -> list[SentimentScore]:
        """Blank transcripts (STT heard nothing) read as neutral rather than as noise."""
        spoken = [i for i, t in enumerate(texts) if t.strip()]
        scores = [NEUTRAL] * len(texts)
        if spoken:
            matrix = self.embedder.encode([texts[i].strip() for i in spoken])
            for i, score in zip(spoken, self.predict_embeddings(matrix), strict=True):
                scores[i] = score
        return scores

    def predict_embeddings(self, matrix: np.ndarray) -> list[SentimentScore]:
        """Scores for rows of unit-length sentence embeddings."""
        sentiment = _softmax(matrix @ self.weights.sentiment_coef.T
                             + self.weights.sentiment_intercept)
        escalate = _sigmoid(matrix @ self.weights.escalate_coef + self.weights.escalate_intercept)
        return [self._score(row, float(p)) for row, p in zip(sentiment, escalate, strict=True)]

    def _score(self, probabilities: np.ndarray, escalate: float) -> SentimentScore:
        probs = {label: float(p) for label, p in zip(self.weights.labels, probabilities,
                                                     strict=True)}
        label = max(probs, key=probs.__getitem__)
        score = float(np.clip(probs["positive"] - probs["negative"], -1.0, 1.0))
        return SentimentScore(label, score, escalate, probs)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))
