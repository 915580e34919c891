"""The trained reader of caller turns: intent and dialogue-act probabilities for a sentence.

Two calibrated multinomial logistic regressions (one over intents, one over acts) share one
feature vector per turn:

- the packaged MiniLM sentence embedding of the whole turn, plus the element-wise max and min
  over its clauses' embeddings, so "Hi there, I'm ringing about the lamp I ordered" keeps the
  request instead of one blurred average with the greeting;
- TF-IDF weights of the turn's words, word pairs and character 3-5-grams, for the exact words
  that decide direction and negation ("unfreeze" vs "freeze", "don't cancel") and for the
  mishearings Whisper makes on 8 kHz audio ("black my card").

Trained by `voice.dialogue.training` (`callcentre train-understanding`) on the corpus in
`data/understanding/train/`. The weights ship as plain arrays (`.npz`) beside a metadata file
(`.json`): loading runs no pickled code and needs no scikit-learn; prediction is a sparse dot
product, a matrix product and a softmax with the calibrated temperature.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "data" / "models" / "understanding-v1.npz"
CLAUSE_BREAK = re.compile(r"[,.;:!?]+|\b(?:but|and|because|so)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")


class TextEncoder(Protocol):
    """What the classifier needs from `voice.engines.embeddings.Embedder`."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


def clauses(text: str) -> list[str]:
    """The turn cut at punctuation and joining words; the whole turn when there is one part."""
    parts = [p.strip() for p in CLAUSE_BREAK.split(text) if p and len(p.strip()) > 1]
    return parts or [text]


def ngrams(text: str) -> list[str]:
    """The turn's sparse terms: words (digits folded to their count), word pairs, and the
    character 3-5-grams inside each word. Shared by training and prediction."""
    words = [
        f"<{len(w)}d>" if w.isdigit() else w for w in _WORD.findall(text.lower().replace("’", "'"))
    ]
    terms = [f"w:{w}" for w in words]
    terms += [f"b:{a} {b}" for a, b in zip(["<s>", *words], [*words, "</s>"], strict=True)]
    for word in words:
        padded = f" {word} "
        terms += [f"c:{padded[i : i + n]}" for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    return terms


def dense_features(encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    """(len(texts), 3 * dim): whole-turn embedding, clause max, clause min."""
    if not texts:
        return np.zeros((0, 0), np.float32)
    parts = [clauses(t) for t in texts]
    flat = [p for ps in parts for p in ps]
    vectors = encoder.encode([*texts, *flat])
    whole, rest = vectors[: len(texts)], vectors[len(texts) :]
    rows, start = [], 0
    for i, ps in enumerate(parts):
        block = rest[start : start + len(ps)]
        start += len(ps)
        rows.append(np.concatenate([whole[i], block.max(0), block.min(0)]))
    return np.stack(rows).astype(np.float32)


@dataclass(frozen=True)
class Vocabulary:
    """Sparse term -> column, with its inverse document frequency (sublinear tf, l2 norm)."""

    index: dict[str, int]
    idf: np.ndarray

    def weights(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of the turn's unit-length TF-IDF vector."""
        counts = Counter(t for t in ngrams(text) if t in self.index)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        cols = np.fromiter((self.index[t] for t in counts), np.int64, len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), np.float32, len(counts))
        values = tf * self.idf[cols]
        return cols, values / max(float(np.linalg.norm(values)), 1e-9)


@dataclass(frozen=True)
class Head:
    """One calibrated softmax over `classes`: logits = x @ coef.T + intercept, / temperature."""

    classes: tuple[str, ...]
    dense_coef: np.ndarray  # (classes, dense dim)
    sparse_coef: np.ndarray  # (classes, vocabulary size)
    intercept: np.ndarray  # (classes,)
    temperature: float

    def probabilities(
        self, dense: np.ndarray, sparse: list[tuple[np.ndarray, np.ndarray]]
    ) -> np.ndarray:
        logits = dense @ self.dense_coef.T + self.intercept
        for row, (cols, values) in enumerate(sparse):
            if len(cols):
                logits[row] += self.sparse_coef[:, cols] @ values
        return _softmax(logits / self.temperature)


@dataclass(frozen=True)
class TurnScores:
    """Probabilities for one turn, most likely first."""

    intents: list[tuple[str, float]]
    acts: list[tuple[str, float]]

    @property
    def intent(self) -> tuple[str, float]:
        return self.intents[0]

    @property
    def act(self) -> tuple[str, float]:
        return self.acts[0]


class TurnClassifier:
    def __init__(
        self,
        encoder: TextEncoder,
        vocabulary: Vocabulary,
        intent: Head,
        act: Head,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._encoder, self.vocabulary = encoder, vocabulary
        self.intent_head, self.act_head = intent, act
        self.meta = meta or {}

    @classmethod
    def load(cls, encoder: TextEncoder, path: Path | str = DEFAULT_MODEL) -> TurnClassifier:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        with np.load(path) as arrays:
            vocabulary = Vocabulary(
                {t: i for i, t in enumerate(meta["vocabulary"])},
                arrays["idf"].astype(np.float32),
            )
            heads = [
                Head(
                    tuple(meta[f"{name}_classes"]),
                    arrays[f"{name}_dense"].astype(np.float32),
                    arrays[f"{name}_sparse"].astype(np.float32),
                    arrays[f"{name}_intercept"].astype(np.float32),
                    float(meta[f"{name}_temperature"]),
                )
                for name in ("intent", "act")
            ]
        return cls(encoder, vocabulary, heads[0], heads[1], meta)

    def save(self, path: Path | str, meta: dict[str, Any]) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"idf": self.vocabulary.idf.astype(np.float32)}
        for name, head in (("intent", self.intent_head), ("act", self.act_head)):
            arrays[f"{name}_dense"] = head.dense_coef.astype(np.float16)
            arrays[f"{name}_sparse"] = head.sparse_coef.astype(np.float16)
            arrays[f"{name}_intercept"] = head.intercept.astype(np.float32)
            meta[f"{name}_classes"] = list(head.classes)
            meta[f"{name}_temperature"] = head.temperature
        meta["vocabulary"] = sorted(self.vocabulary.index, key=lambda t: self.vocabulary.index[t])
        np.savez_compressed(path, **cast(dict[str, Any], arrays))  # numpy's stub: kwargs
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")

    def features(self, texts: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        return dense_features(self._encoder, texts), [self.vocabulary.weights(t) for t in texts]

    def score(self, texts: list[str]) -> list[TurnScores]:
        """Intent and act probabilities for each text (one embedding batch for all)."""
        if not texts:
            return []
        dense, sparse = self.features(texts)
        intents = self.intent_head.probabilities(dense, sparse)
        acts = self.act_head.probabilities(dense, sparse)
        return [
            TurnScores(_ranked(self.intent_head.classes, i), _ranked(self.act_head.classes, a))
            for i, a in zip(intents, acts, strict=True)
        ]


def _ranked(classes: tuple[str, ...], probabilities: np.ndarray) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities)
    return [(classes[i], float(probabilities[i])) for i in order]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities
