"""Run `bench/baseline_server.py` as a child process, like `LocalServer` runs ours."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from telephony.local_server import LocalServer

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BaselineServer(LocalServer):
    """The pipecat-example baseline on a free port; its stage logs land in `events`."""

    @property
    def events(self) -> Path:
        return self.workdir / "events"

    def start(self, timeout: float = 240.0) -> BaselineServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.baseline_server",
                "--port",
                str(self.port),
                "--events",
                str(self.events),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"baseline exited:\n{self.log()[-3000:]}")
            if self.healthy():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"baseline not healthy after {timeout:.0f} s:\n{self.log()[-3000:]}")

    def __enter__(self) -> BaselineServer:
        return self.start()
