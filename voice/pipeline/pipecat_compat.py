"""Every pipecat internal we reach, in one place, checked against the pipecat we tested.

pipecat is our frame bus, transport and serializer (docs/architecture.md); its public API is
enough for that. Three things need more, and each reaches into pipecat below its public API:

1. Silero VAD on one ONNX session for every call (`shared_vad.py`): the model file inside
   pipecat's wheel, `SileroOnnxModel` built around a session it did not open, and the state
   `SileroVADAnalyzer.__init__` sets after loading its own model.
2. Smart-Turn v3 on one model for every call (`smart_turn.py`): the analyzer's prediction step
   (`_predict_endpoint`), called with audio we keep ourselves.
3. A lead at the start of each reply (`call_pipeline.py`): the websocket output's pacing step
   (`_write_audio_sleep`, with its clock `_next_send_time` and `_send_interval`).

These names are private in pipecat and may change in any release: `check_pipecat()` runs at
start-up (`telephony/app.py`) and says which version was tested and which internal is missing;
tests/test_pipecat_compat.py exercises each one with the real models.
"""

from __future__ import annotations

import asyncio
import time
from importlib import metadata, resources
from typing import Any

import numpy as np
import onnxruntime
from pipecat.audio.vad.silero import SileroOnnxModel

from voice.logs import get_logger

log = get_logger(__name__)

TESTED_PIPECAT = "1.14.0"  # pyproject pins pipecat-ai to this; the internals below are its
SILERO_PACKAGE, SILERO_FILE = "pipecat.audio.vad.data", "silero_vad.onnx"
SMART_TURN_MODULE = "pipecat.audio.turn.smart_turn.local_smart_turn_v3"
# What `SileroVADAnalyzer.__init__` sets after loading its model (pipecat 1.14).
SILERO_ANALYZER_STATE = ("_model", "_windows_since_reset", "_low_confidence_windows")


class PipecatMismatch(RuntimeError):
    """The installed pipecat lacks an internal this code reaches."""


# -- 1. Silero VAD -------------------------------------------------------------------------
def silero_model_path() -> str:
    """The Silero VAD model that ships inside pipecat's wheel."""
    return str(resources.files(SILERO_PACKAGE).joinpath(SILERO_FILE))


def silero_model_on(session: onnxruntime.InferenceSession) -> SileroOnnxModel:
    """pipecat's Silero wrapper (recurrent state, context, input checks) around a session
    opened once for the process, instead of the one its `__init__` would open."""
    model = SileroOnnxModel.__new__(SileroOnnxModel)  # no __init__: it would load the file
    model.session = session
    model.reset_states()
    model.sample_rates = [8000, 16000]
    return model


def silero_analyzer_state(model: SileroOnnxModel) -> dict[str, Any]:
    """The instance state `SileroVADAnalyzer.__init__` sets after loading its model."""
    return {"_model": model, "_windows_since_reset": 0, "_low_confidence_windows": 0}


# -- 2. Smart-Turn -------------------------------------------------------------------------
def smart_turn_analyzer(sample_rate: int) -> Any:
    """pipecat's local Smart-Turn v3 analyzer (the ONNX model inside its wheel)."""
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    analyzer = LocalSmartTurnAnalyzerV3(sample_rate=sample_rate)
    analyzer.set_sample_rate(sample_rate)
    return analyzer


def smart_turn_probability(analyzer: Any, audio: np.ndarray) -> float:
    """P(the turn is complete) by the analyzer's own prediction step (pad/trim to 8 s, Whisper
    features, ONNX), on audio we keep ourselves rather than the analyzer's buffer."""
    return float(analyzer._predict_endpoint(audio)["probability"])


# -- 3. The agent's audio, paced ---------------------------------------------------------
def send_ahead_at_reply_start(output: Any, frames: int) -> None:
    """Let the websocket output send a reply's first `frames` audio frames without waiting.

    pipecat paces the agent's 20 ms frames at twice real time from the first one on, so at the
    start of a reply the phone holds a frame or two: an event loop busy for 40 ms with other
    calls (their starts, their turns) leaves the caller hearing a gap. Sent ahead, the first
    frames give Twilio a buffer that such a delay only draws down. A barge-in's `clear`
    empties that buffer, and what the caller heard is still told by Twilio's marks.
    """
    paced = output._write_audio_sleep
    ahead = 0

    async def write_audio_sleep() -> None:
        nonlocal ahead
        now = time.monotonic()
        if ahead == 0 and now >= output._next_send_time + output._send_interval:
            ahead = frames  # nothing queued at the phone: a reply starts (or a long stall)
        if ahead:
            ahead -= 1
            output._next_send_time = now + output._send_interval
            await asyncio.sleep(0)
            return
        await paced()

    output._write_audio_sleep = write_audio_sleep


# -- the check at start-up -----------------------------------------------------------------
def missing_internals() -> list[str]:
    """The internals above that the installed pipecat lacks (none on the tested version)."""
    import importlib

    missing = []
    if not resources.files(SILERO_PACKAGE).joinpath(SILERO_FILE).is_file():
        missing.append(f"{SILERO_PACKAGE}/{SILERO_FILE}")
    if not callable(getattr(SileroOnnxModel, "reset_states", None)):
        missing.append("SileroOnnxModel.reset_states")
    smart_turn = importlib.import_module(SMART_TURN_MODULE)
    analyzer_class = getattr(smart_turn, "LocalSmartTurnAnalyzerV3", None)
    if analyzer_class is None or not callable(getattr(analyzer_class, "_predict_endpoint", None)):
        missing.append("LocalSmartTurnAnalyzerV3._predict_endpoint")
    from pipecat.transports.websocket import fastapi

    if not callable(getattr(fastapi.FastAPIWebsocketOutputTransport, "_write_audio_sleep", None)):
        missing.append("FastAPIWebsocketOutputTransport._write_audio_sleep")
    return missing


def check_pipecat(installed: str | None = None) -> str | None:
    """At start-up: a clear error if an internal we reach is gone, a warning (returned, and
    logged) if pipecat is not the version they were tested on, None when all is as tested."""
    installed = installed or metadata.version("pipecat-ai")
    missing = missing_internals()
    if missing:
        raise PipecatMismatch(
            f"pipecat-ai {installed} lacks what voice/pipeline/pipecat_compat.py reaches "
            f"(tested on {TESTED_PIPECAT}): {', '.join(missing)}. Install "
            f"pipecat-ai=={TESTED_PIPECAT} or update pipecat_compat.py and its tests."
        )
    if installed == TESTED_PIPECAT:
        return None
    warning = (
        f"pipecat-ai {installed} is installed; voice/pipeline/pipecat_compat.py was tested on "
        f"{TESTED_PIPECAT}. Its internals are present; run tests/test_pipecat_compat.py."
    )
    log.warning(warning)
    return warning
