"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (knowledge retrieval, sentiment).

A caller's turn is embedded whole and clause by clause by the understanding and again, the
same texts, by the sentiment classifier; the last texts' vectors are kept (`CACHE_TEXTS`) so
each is computed once. Texts are batched shortest first: padded to the longest of a batch, a
long whole turn in with its short clauses cost 2.5x the time it does apart (issue 15).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from voice.engines.models import minilm_dir

DIMENSIONS = 384
CACHE_TEXTS = 2048  # about 3 MB of vectors


class Embedder:
    """Mean-pooled, L2-normalised MiniLM embeddings; safe to share between threads."""

    def __init__(self, model: str = "", device: str = "cpu", batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        source = model or str(minilm_dir())
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(source)
        self._model = AutoModel.from_pretrained(source).to(device).eval()
        self._device = device
        self._batch_size = batch_size
        self._lock = threading.Lock()  # tokenizers are not re-entrant across threads
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            missing = sorted({t for t in texts if t not in self._cache}, key=len)
            if missing:
                for text, vector in zip(missing, self._compute(missing), strict=True):
                    self._cache[text] = vector
            for text in texts:
                self._cache.move_to_end(text)
            rows = np.stack([self._cache[t] for t in texts])
            while len(self._cache) > CACHE_TEXTS:
                self._cache.popitem(last=False)
        return rows

    def _compute(self, texts: list[str]) -> np.ndarray:
        out = []
        with self._torch.inference_mode():
            for i in range(0, len(texts), self._batch_size):
                batch = self._tokenizer(
                    texts[i : i + self._batch_size],
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                batch = {k: v.to(self._device) for k, v in batch.items()}
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = self._torch.nn.functional.normalize(pooled, p=2, dim=1)
                out.append(pooled.float().cpu().numpy())
        return np.concatenate(out)


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """One embedder per process."""
    return Embedder()
