"""Prometheus metrics: per-stage latency, active calls, escalations, errors."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Buckets in seconds around a phone conversation's turn gap (0.2 s) to slow turns (5 s).
_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

TURN_LATENCY = Histogram(
    "callcentre_turn_latency_seconds", "End of caller speech to first agent audio", buckets=_BUCKETS
)
STAGE_LATENCY = Histogram(
    "callcentre_stage_latency_seconds", "Time spent per pipeline stage", ["stage"], buckets=_BUCKETS
)
ACTIVE_CALLS = Gauge("callcentre_active_calls", "Calls with an open media stream")
CALLS = Counter("callcentre_calls_total", "Calls handled, by how they ended", ["reason"])
ESCALATIONS = Counter("callcentre_escalations_total", "Calls handed to a person", ["rule"])
ERRORS = Counter("callcentre_errors_total", "Errors, by kind", ["kind"])
BARGE_INS = Counter("callcentre_barge_ins_total", "Times a caller interrupted the agent")
STORE_PENDING_WRITES = Gauge(
    "callcentre_store_pending_writes", "Call-store writes queued, waiting for the database"
)


def observe_turn(latency_ms: float | None, stages_ms: dict[str, float | None]) -> None:
    if latency_ms is not None:
        TURN_LATENCY.observe(latency_ms / 1000)
    for stage, ms in stages_ms.items():
        if ms is not None:
            STAGE_LATENCY.labels(stage=stage).observe(ms / 1000)


# The live supervisor console (counted by the worker that stored or carried out the action).
SUPERVISOR_ACTIONS = Counter(
    "callcentre_supervisor_actions_total",
    "Supervisor actions on calls (listen, say, block, take_over, end, call_back, ...)",
    ["kind"],
)
CALLBACK_OUTCOMES = Counter(
    "callcentre_callbacks_total", "Call-backs placed, by outcome", ["outcome"]
)
LISTENERS = Gauge("callcentre_listeners", "Managers listening to calls on this worker")
LISTEN_DROPPED = Counter(
    "callcentre_listen_dropped_chunks_total",
    "Listen-in audio chunks dropped because a listener fell behind",
)
