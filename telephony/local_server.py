"""Run `callcentre serve` as a child process on a free local port (rehearsals, tests, bench)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from voice.settings import Settings

DEV_ACCOUNT_SID = "AC" + "1" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalServer:
    """A real server process with its own recordings folder, database and auth token."""

    workdir: Path
    token: str = "local-rehearsal-token-0123456789"
    # Signs the stream tokens: known here so that tests can mint expired or forged ones.
    stream_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    # /metrics is off unless METRICS_TOKEN is set; tests and benches scrape with this one.
    metrics_token: str = field(default_factory=lambda: secrets.token_hex(16))
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def recordings(self) -> Path:
        return self.workdir / "recordings"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.recordings / 'calls.db'}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def media_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/twilio/media"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def settings(self) -> Settings:
        """The settings the simulator needs to sign its requests for this server."""
        return Settings(
            _env_file=None,
            TWILIO_AUTH_TOKEN=self.token,
            TWILIO_ACCOUNT_SID=DEV_ACCOUNT_SID,
            PUBLIC_URL=self.http,
            RECORDINGS_DIR=self.recordings,
            DATABASE_URL=self.database_url,
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TWILIO_AUTH_TOKEN": self.token,
            "STREAM_TOKEN_SECRET": self.stream_secret,
            "METRICS_TOKEN": self.metrics_token,
            "TWILIO_ACCOUNT_SID": DEV_ACCOUNT_SID,
            "PUBLIC_URL": self.http,
            "RECORDINGS_DIR": str(self.recordings),
            "DATABASE_URL": self.database_url,
            "HF_HUB_OFFLINE": "1",
            **self.extra_env,
        }

    def start(self, timeout: float = 180.0) -> LocalServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "telephony.cli", "serve", "--port", str(self.port)],
            cwd=self.workdir,
            env=self.env(),
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()[-3000:]}")
            if self.healthy():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout:.0f} s:\n{self.log()[-3000:]}")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.http}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def metrics_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.metrics_token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
