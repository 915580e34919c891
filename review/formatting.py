"""How values read on the pages and in exports: masked numbers, durations, times, scores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload
from zoneinfo import ZoneInfo

from voice.privacy import DOTS, mask_phone  # noqa: F401 - one masking for pages and events


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; the store writes UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_time(value: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = as_utc(value)
    return moment.astimezone(zone).strftime(fmt) if moment else ""


def clock(seconds: float | None) -> str:
    """Seconds as m:ss (or h:mm:ss), for durations and timeline positions."""
    if seconds is None:
        return "–"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def precise_clock(seconds: float) -> str:
    """m:ss.s for transcript lines, where tenths matter."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def score(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def mood(value: float | None) -> str:
    """A CSS class for a sentiment score."""
    if value is None:
        return "none"
    if value <= -0.4:
        return "bad"
    return "meh" if value < 0.1 else "good"


def topic_list(topics: str) -> list[str]:
    return [t.strip() for t in (topics or "").split(",") if t.strip()]
