"""Whisper's encoder shared by concurrent calls: requests that meet are encoded as one batch.

The encoder is most of Whisper's time on a CPU. Two calls whose turns end together would run
two encodes side by side, each with its own threads, on the same few cores; here one thread
encodes whatever is waiting as a single batch (continuous batching: nobody waits for a batch
to fill, a request that arrives during an encode joins the next one). Decoding stays per
utterance. CPU only: on a GPU an encode takes milliseconds.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.logs import get_logger

log = get_logger("voice.encoder_batch")  # the name its logs have always carried

MAX_BATCH = 8


@dataclass
class _Request:
    features: np.ndarray  # (mels, frames), float32
    done: Future = field(default_factory=Future)
    rows: np.ndarray | None = None  # the batch's output the result is a view of


class EncoderBatcher:
    """`encode(features)` from any thread; one worker thread runs the batches."""

    def __init__(self, model: Any, max_batch: int = MAX_BATCH) -> None:
        """`model` is a faster-whisper `WhisperModel` (its `encode` takes a batch)."""
        self._model, self._max_batch = model, max_batch
        self._waiting: list[_Request] = []
        self._cond = threading.Condition()
        self.batch_sizes: list[int] = []  # for the bench and the tests
        # A view shares the batch output's memory: each calling thread keeps its last one
        # alive until its next encode (it decodes in between).
        self._kept = threading.local()
        threading.Thread(target=self._run, name="stt-encoder", daemon=True).start()

    def encode(self, features: np.ndarray) -> Any:
        """The encoder output (a batch of one) for one utterance's features."""
        request = _Request(np.ascontiguousarray(features, dtype=np.float32))
        with self._cond:
            self._waiting.append(request)
            self._cond.notify()
        output = request.done.result()
        self._kept.rows = request.rows
        return output

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                batch = self._waiting[: self._max_batch]
                del self._waiting[: len(batch)]
            for same_shape in _by_shape(batch):
                self._encode(same_shape)

    def _encode(self, batch: list[_Request]) -> None:
        import ctranslate2

        try:
            output = self._model.encode(np.stack([r.features for r in batch]))
            self.batch_sizes.append(len(batch))
            if len(batch) == 1:
                batch[0].done.set_result(output)
                return
            rows = np.array(output)  # (batch, positions, width), on the CPU
            for i, request in enumerate(batch):
                request.rows = rows
                request.done.set_result(
                    ctranslate2.StorageView.from_array(np.ascontiguousarray(rows[i : i + 1]))
                )
        except Exception as exc:  # each caller's transcription reports it
            log.exception("batched encode failed", batch=len(batch))
            for request in batch:
                if not request.done.done():
                    request.done.set_exception(exc)


def _by_shape(batch: list[_Request]) -> list[list[_Request]]:
    groups: dict[tuple[int, ...], list[_Request]] = defaultdict(list)
    for request in batch:
        groups[request.features.shape].append(request)
    return list(groups.values())
