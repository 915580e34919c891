"""Where a server's CPU goes, by stage: CPU time of its threads, grouped by their OS names.

Each engine names its threads (`voice/engines/thread_names.py`): "stt" (Whisper and
CTranslate2's own workers), "llm" (the local LLM and its torch threads), "tts" (the voice),
"turn" (Smart-Turn). The process's main thread runs the event loop: websockets, the Twilio
serializer, resampling, the VAD, the pipeline's frames. Other unnamed threads are asyncio's
default workers: understanding (MiniLM), sentiment, the database.

    with ThreadCPU(pid) as cpu:
        ...  # the load
    print(cpu.table(calls=3))
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux
STAGES = {
    "stt": "speech to text (Whisper)",
    "llm": "LLM",
    "tts": "text to speech",
    "turn": "Smart-Turn",
    "main": "event loop (websocket, serializer, VAD, pipeline)",
    "python": "other workers (understanding, sentiment, database)",
}


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each of the process's threads, summed by OS name;
    the main thread is "main"."""
    import os

    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else CLOCK_TICKS
    totals: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        if task.name == str(pid):
            name = "main"
        totals[name.split("-")[0]] += (int(fields[11]) + int(fields[12])) / ticks
    return dict(totals)


class ThreadCPU:
    """CPU by stage between `__enter__` and `__exit__` (threads that ended meanwhile are lost:
    the engines' threads live as long as the process)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def __enter__(self) -> ThreadCPU:
        self.before = thread_seconds(self._pid)
        return self

    def __exit__(self, *exc: object) -> None:
        after = thread_seconds(self._pid)
        self.used = {k: after[k] - self.before.get(k, 0.0) for k in after}

    def rows(self, calls: int, wall_s: float) -> list[tuple[str, float, float, float]]:
        """(stage, CPU seconds, share of the process's CPU, % of one core per call)."""
        total = sum(v for v in self.used.values() if v > 0) or 1.0
        rows = []
        for key, seconds in sorted(self.used.items(), key=lambda kv: -kv[1]):
            if seconds <= 0:
                continue
            share = seconds / total
            per_call = 100 * seconds / wall_s / max(1, calls) if wall_s else 0.0
            rows.append((STAGES.get(key, key), seconds, share, per_call))
        return rows

    def table(self, calls: int, wall_s: float) -> str:
        lines = [
            "| stage | CPU s | share | % of a core per call |",
            "| --- | ---: | ---: | ---: |",
        ]
        for stage, seconds, share, per_call in self.rows(calls, wall_s):
            lines.append(f"| {stage} | {seconds:.1f} | {share:.0%} | {per_call:.1f} |")
        return "\n".join(lines)
