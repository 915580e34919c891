"""pipecat's Smart-Turn v3 model (it ships in pipecat's wheel), one copy for every call.

Smart-Turn reads the last 8 s of a caller's audio and says whether the turn sounds finished
(intonation, words, rhythm). pipecat gives every analyzer its own ONNX session; a session is
stateless, so the process shares one and runs it off the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from voice.pipeline.pipecat_compat import smart_turn_analyzer, smart_turn_probability

MODEL_RATE = 16000


class SmartTurn:
    def __init__(self, workers: int = 1) -> None:
        self._analyzer = smart_turn_analyzer(MODEL_RATE)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="turn")

    def probability_sync(self, audio: np.ndarray) -> float:
        """P(the turn is complete) for mono float32 16 kHz audio ending now."""
        return smart_turn_probability(self._analyzer, audio)

    async def probability(self, audio: np.ndarray) -> float:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.probability_sync, audio)

    def warm_up(self) -> None:
        self.probability_sync(np.zeros(MODEL_RATE, dtype=np.float32))


_shared: SmartTurn | None = None
_loading = threading.Lock()


def shared_smart_turn() -> SmartTurn:
    """Loaded (and warmed) on first use (blocking: call it off the event loop, or at start-up
    from `VoiceEngines.load`)."""
    global _shared
    with _loading:
        if _shared is None:
            model = SmartTurn()
            model.warm_up()
            _shared = model
    return _shared
