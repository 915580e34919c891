"""Shared fixtures: a real `callcentre serve` process with real models on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from voice.settings import Settings

os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
TEST_TOKEN = "test-auth-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    port: int
    settings: Settings
    recordings: Path
    log_path: Path
    process: subprocess.Popen

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def media_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/twilio/media"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(port: int, recordings: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TWILIO_AUTH_TOKEN": TEST_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RECORDINGS_DIR": str(recordings),
        "DATABASE_URL": f"sqlite:///{recordings / 'calls.db'}",
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "INFO",
        **extra,
    })
    return env


def start_server(tmp: Path, **extra: str) -> RunningServer:
    port = free_port()
    recordings = tmp / "recordings"
    env = server_env(port, recordings, **extra)
    log_path = tmp / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "telephony.cli", "serve", "--port", str(port)],
        cwd=tmp, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()[-3000:]}")
    settings = Settings(_env_file=None, TWILIO_AUTH_TOKEN=TEST_TOKEN,
                        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
                        PUBLIC_URL=f"http://127.0.0.1:{port}", RECORDINGS_DIR=recordings)
    return RunningServer(port, settings, recordings, log_path, process)


def stop_server(server: RunningServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES
