"""Shared fixtures: a real `callcentre serve` process with real models on a free port."""

from __future__ import annotations

import functools
import inspect
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


# -- suites: `make test-fast` runs `-m unit`, `make test` everything ------------------------------
# A test is `unit` unless it is `slow` (a live `callcentre serve`, subprocess CLIs, Whisper, audio
# paced in real time), `browser` (Playwright with Debian's chromium) or `postgres` (a real
# PostgreSQL). A module that starts a LocalServer, or a test that uses the `server` fixture, is
# slow without being listed; the list names the other slow modules.
SLOW_MODULES = frozenset(
    {
        "test_corpus",  # trains a model
        "test_encoder_batch",  # Whisper
        "test_eval",  # eval through the real server, and the CLI in subprocesses
        "test_gpu_script",
        "test_history",
        "test_incremental_stt",  # Whisper on long turns
        "test_language",
        "test_simulator",  # calls paced in real time against a stand-in agent
        "test_speed",  # Whisper
        "test_text_tools",  # chat and score-escalation in subprocesses
    }
)


def _suite(item: pytest.Item) -> set[str]:
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
    function = getattr(item, "function", None)
    source = _module_source(item.module) if item.module else ""
    marks: set[str] = set()
    if "postgres" in getattr(getattr(item, "callspec", None), "id", "").split("-"):
        marks.add("postgres")
    if "browser" in item.fixturenames or "playwright" in _source(function):
        marks.add("browser")
    if module in SLOW_MODULES or "server" in item.fixturenames or "LocalServer(" in source:
        marks.add("slow")
    return marks or {"unit"}


def _source(obj: object) -> str:
    try:
        return inspect.getsource(obj) if obj is not None else ""  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


@functools.cache
def _module_source(module: object) -> str:
    return _source(module)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in _suite(item):
            item.add_marker(name)
