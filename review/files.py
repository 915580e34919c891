"""Find a call's files without ever reaching outside a known folder.

Nothing from a URL becomes a path: routes look the call up by its CallSid and take the paths
the recorder stored. Every candidate is resolved (symlinks followed) and must still lie inside
the folder, or it does not exist as far as review is concerned.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

CALL_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def inside(root: Path, candidate: Path | str) -> Path | None:
    """`candidate` resolved, when it is an existing file inside `root`; otherwise None."""
    if not candidate or "\x00" in str(candidate):
        return None
    try:
        base = root.resolve(strict=True)
        path = Path(candidate).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    return path if path.is_relative_to(base) and path.is_file() else None


def call_file(
    recordings_dir: Path, call_sid: str, stored: str, started_at: datetime | None, suffix: str
) -> Path | None:
    """The call's `.wav` or `.jsonl`: the stored path, else where the recorder puts it."""
    if not CALL_SID.match(call_sid):
        return None
    candidates: list[Path | str] = [stored] if stored.endswith(suffix) else []
    if started_at is not None:
        candidates.append(recordings_dir / started_at.strftime("%Y-%m-%d") / f"{call_sid}{suffix}")
    for candidate in candidates:
        found = inside(recordings_dir, candidate)
        if found is not None and found.suffix == suffix:
            return found
    return None


def static_file(root: Path, relative: str) -> Path | None:
    """A file of review's own static folder (the route is public: no personal data there)."""
    if not relative or relative.startswith(("/", "\\")) or ".." in Path(relative).parts:
        return None
    return inside(root, root / relative)
