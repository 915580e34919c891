"""Split each measured turn's latency into stages, from a server's own event log.

Both servers keep time in seconds since the call's `start` message, as the simulator does, so
a turn is lined up with the server's events by time: the reply that reached the caller first
after the caller stopped, and the caller turn that reply answered. Lining up by time (not by
counting turns) survives an utterance that the server split in two or merged.

Stages partition the latency in order: the turn end is decided, the rest of the transcript is
waited for, the first sentence is ready, it is synthesized, and the rest is output and
network (transport chunking, websocket, the simulator noticing audio).

`llm_first_token` (the LLM's first token, since the transcript) is reported beside the first
sentence it is part of, not added into the partition; it is None for a turn where no LLM ran
(a reply the agent worded itself). The baseline's is its first `llm_text` after the turn end.
"""

from __future__ import annotations

from telephony.simulator import SimulationResult

STAGES = [
    "turn_end_detection",
    "stt",
    "llm_first_sentence",
    "tts_first_audio",
    "playout_and_network",
]
# The rows of the per-stage table: the partition, with the first token beside its sentence.
REPORTED = [
    "turn_end_detection",
    "stt",
    "llm_first_token",
    "llm_first_sentence",
    "tts_first_audio",
    "playout_and_network",
]
CLOCK_SLACK_S = 0.05  # the two ends' clocks start a websocket message apart


def _row(
    total_ms: float,
    detect: float,
    stt: float,
    first: float,
    tts: float,
    first_token: float | None = None,
) -> dict[str, float | None]:
    return {
        "total": total_ms,
        "turn_end_detection": detect,
        "stt": stt,
        "llm_first_token": first_token,
        "llm_first_sentence": first,
        "tts_first_audio": tts,
        "playout_and_network": total_ms - detect - stt - first - tts,
    }


def our_rows(result: SimulationResult, events: list[dict]) -> list[dict]:
    """Our server logs `caller_turn` (when the turn end was detected and, since issue 6, when
    its transcript was ready) and `agent_turn` (when its audio started, with stage times).

    Each row also says which caller turn it was (`turn`, its index in the call) and the reply's
    path: "llm" when the turn manager let the LLM word it (its `understood` event), else
    "prepared"."""
    callers = [e for e in events if e["type"] == "caller_turn"]
    agents = [e for e in events if e["type"] == "agent_turn" and e.get("stages_ms")]
    understood = [e for e in events if e["type"] == "understood"]
    rows = []
    for index, turn in enumerate(result.turns):
        if turn.agent_first_audio_s is None or turn.latency_ms is None:
            continue
        heard = turn.agent_first_audio_s + CLOCK_SLACK_S
        agent = _last(agents, lambda e, lo=turn.caller_end_s - 1.0, hi=heard: lo < e["start"] <= hi)
        if agent is None:
            continue
        caller = _last(callers, lambda e, a=agent: e["detected"] <= a["start"] + CLOCK_SLACK_S)
        if caller is None:
            continue
        stages = agent["stages_ms"]
        detect = (caller["detected"] - turn.caller_end_s) * 1000
        stt = (
            (caller["transcribed"] - caller["detected"]) * 1000
            if "transcribed" in caller
            else stages["stt"]
        )
        plan = _last(understood, lambda e, a=agent: e.get("t", 0) <= a["start"] + CLOCK_SLACK_S)
        llm = bool(plan and plan.get("llm")) or stages.get("llm_first_token") is not None
        row = _row(
            turn.latency_ms,
            detect,
            stt,
            stages["first_sentence"] or 0,
            stages["tts_first_audio"],
            stages.get("llm_first_token"),
        )
        rows.append({**row, "turn": index, "path": "llm" if llm else "prepared"})
    return rows


def baseline_rows(result: SimulationResult, events: list[dict]) -> list[dict]:
    """The baseline's stage log (`bench/stage_log.py`): when VAD stopped, the transcript
    came, the user turn ended, the TTS started on the first sentence and its audio came."""
    rows = []
    for index, turn in enumerate(result.turns):
        if turn.agent_first_audio_s is None or turn.latency_ms is None:
            continue
        heard = turn.agent_first_audio_s + CLOCK_SLACK_S
        end = _last_event(events, "turn_end", lambda t, hi=heard: t <= hi)
        if end is None:
            continue
        text = _last_event(events, "transcript", lambda t, e=end: t <= e["t"])
        vad = text and _last_event(events, "vad_stop", lambda t, x=text: t <= x["t"])
        tts = _first_event(events, "tts_start", lambda t, e=end: t >= e["t"])
        audio = tts and _first_event(events, "tts_audio", lambda t, s=tts: t >= s["t"])
        if not (text and vad and tts and audio):
            continue
        token = _first_event(events, "llm_text", lambda t, e=end, s=tts: e["t"] <= t <= s["t"])
        stt = (text["t"] - vad["t"]) * 1000
        detect = (end["t"] - turn.caller_end_s) * 1000 - stt
        row = _row(
            turn.latency_ms,
            detect,
            stt,
            (tts["t"] - end["t"]) * 1000,
            (audio["t"] - tts["t"]) * 1000,
            (token["t"] - end["t"]) * 1000 if token else None,
        )
        rows.append({**row, "turn": index, "path": "llm"})  # its LLM answers every turn
    return rows


def _last(items: list[dict], keep) -> dict | None:
    found = [e for e in items if keep(e)]
    return found[-1] if found else None


def _last_event(events: list[dict], name: str, keep) -> dict | None:
    return _last([e for e in events if e.get("event") == name], lambda e: keep(e["t"]))


def _first_event(events: list[dict], name: str, keep) -> dict | None:
    found = [e for e in events if e.get("event") == name and keep(e["t"])]
    return found[0] if found else None
