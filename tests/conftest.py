"""Shared fixtures: a real `callcentre serve` process with real models on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from telephony.local_server import LocalServer

os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
# Servers and CLIs the tests start as subprocesses (`python -m telephony.cli ...`, from their own
# working folder) import this checkout, not whichever copy of the package the virtual
# environment has installed (a git worktree sharing another checkout's editable install).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES
