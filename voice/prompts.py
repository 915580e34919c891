"""The text the agent says or is told, loaded from plain files in `prompts/`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@cache
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> str:
    """The stripped text of `prompts/<name>.txt`; a missing file is a configuration error."""
    path = directory / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"prompt file missing: {path}")
    return path.read_text(encoding="utf-8").strip()
