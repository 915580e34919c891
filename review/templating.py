"""Jinja2 templates with autoescape, the display filters, and cache-busted static URLs."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from review import formatting

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@cache
def _version(relative: str) -> str:
    """A short hash of the file, so browsers refetch exactly when it changed."""
    path = STATIC / relative
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.is_file() else "0"


def static_url(relative: str) -> str:
    return f"/review/static/{relative}?v={_version(relative)}"


def make_templates(zone: ZoneInfo) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        local=lambda value, fmt="%Y-%m-%d %H:%M": formatting.local_time(value, zone, fmt),
        clock=formatting.clock,
        precise_clock=formatting.precise_clock,
        ms=formatting.milliseconds,
        score=formatting.score,
        mood=formatting.mood,
    )
    env.globals.update(static=static_url)
    return Jinja2Templates(env=env)
