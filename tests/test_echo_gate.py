"""The echo gate (voice/pipeline/echo.py) frame by frame, on a clock we move ourselves: the
agent's own voice coming back is muted, the caller's voice is not, and a line without any
echo stops muting the caller's soft sounds once the echo would have been found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from pipecat.frames.frames import InputAudioRawFrame
from scipy import signal

from voice.pipeline.echo import NO_ECHO_AFTER_S, PHONE_BAND_HZ, RATE, AgentEcho, EchoGate

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
FRAME = RATE // 50  # 20 ms


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def voice(name: str) -> np.ndarray:
    audio, rate = sf.read(SAMPLES / f"{name}.wav", dtype="int16")
    assert rate == RATE
    return audio.astype(np.float64)


def run_gate(caller: np.ndarray, agent: np.ndarray) -> np.ndarray:
    """The caller's audio through the gate while the agent plays `agent` from the start."""
    clock = Clock()
    echo = AgentEcho(clock)
    gate = EchoGate(session=None, echo=echo, clock=clock)
    echo.playing(agent.astype(np.int16).tobytes(), RATE)
    out = []
    for i in range(0, len(caller) - FRAME + 1, FRAME):
        clock.t += FRAME / RATE
        pcm = caller[i : i + FRAME].astype(np.int16).tobytes()
        frame = gate._gate(InputAudioRawFrame(audio=pcm, sample_rate=RATE, num_channels=1))
        out.append(np.frombuffer(frame.audio, dtype=np.int16))
    return np.concatenate(out).astype(np.float64)


def level_db(x: np.ndarray) -> float:
    return 10 * np.log10(float((x**2).mean()) + 1e-9)


def through_a_phone(x: np.ndarray) -> np.ndarray:
    """The speakerphone echo as bench/noise.py models it (telephony/phone_line.py)."""
    return signal.sosfilt(signal.butter(4, PHONE_BAND_HZ, "bandpass", fs=RATE, output="sos"), x)


def agent_reply() -> np.ndarray:
    return np.concatenate([voice("long_question"), voice("order_status")])


def test_a_soft_caller_on_a_line_with_no_echo_is_heard_once_the_echo_would_have_been_found():
    agent = agent_reply()
    soft = 0.05 * voice("hello")  # 26 dB below the agent: the prior would take it for echo
    at = int((NO_ECHO_AFTER_S + 0.3) * RATE)
    caller = np.zeros(at + len(soft))
    caller[at:] = soft
    out = run_gate(caller, agent)
    heard, sent = out[at : at + len(soft) - FRAME], caller[at : at + len(soft) - FRAME]
    assert abs(level_db(heard) - level_db(sent)) < 0.5


def test_the_same_soft_voice_in_the_agents_first_moments_is_taken_for_echo():
    """Before the echo can be located the prior mutes what is much quieter than the agent."""
    agent = agent_reply()
    soft = 0.05 * voice("hello")
    at = int(0.3 * RATE)
    caller = np.zeros(at + int(0.4 * RATE))
    caller[at:] = soft[: len(caller) - at]
    out = run_gate(caller, agent)
    assert level_db(out[at:]) < level_db(caller[at:]) - 20


def test_the_agents_own_echo_stays_muted_after_it_was_located():
    agent = agent_reply()
    delay, gain = int(0.15 * RATE), 10 ** (-20 / 20)  # a speakerphone, 150 ms, -20 dB
    caller = np.zeros(len(agent) + delay)
    caller[delay:] = gain * through_a_phone(agent)
    out = run_gate(caller, agent)
    late = slice(int((NO_ECHO_AFTER_S + 0.5) * RATE), len(agent))  # long after the first moments
    assert level_db(out[late]) < level_db(caller[late]) - 20
