"""Silero VAD for one call, on an ONNX session that every call in the process shares.

pipecat's `SileroVADAnalyzer` opens its own ONNX Runtime session per call, ~10 MB each. The
session holds only the weights; the model's recurrent state lives in `SileroOnnxModel` and
is passed in on every run, and `InferenceSession.run` may be called from many threads at
once. So each call keeps its own state and shares the session.
"""

from __future__ import annotations

import threading

import onnxruntime
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

from voice.pipeline.pipecat_compat import silero_analyzer_state, silero_model_on, silero_model_path

_session: onnxruntime.InferenceSession | None = None
_loading = threading.Lock()


def shared_session() -> onnxruntime.InferenceSession:
    """The process's Silero session, opened as pipecat opens it (CPU, one thread)."""
    global _session
    with _loading:
        if _session is None:
            path = silero_model_path()
            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = options.intra_op_num_threads = 1
            _session = onnxruntime.InferenceSession(
                path, providers=["CPUExecutionProvider"], sess_options=options
            )
    return _session


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """`SileroVADAnalyzer` (same analysis and state resets) without a session of its own."""

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        # What SileroVADAnalyzer.__init__ sets after loading its own model (pipecat_compat.py).
        vars(self).update(silero_analyzer_state(silero_model_on(shared_session())))
