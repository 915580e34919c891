"""Settings that only the review pages use, read from `REVIEW_*` environment variables or `.env`.

They live here rather than in `voice/settings.py` so the agent's settings stay about calls.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReviewConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REVIEW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # "auto": Secure cookies when PUBLIC_URL or the request is https (a local http run still
    # logs in); "always" behind a TLS proxy that does not forward the scheme; "never" for tests.
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    timezone: str = "UTC"  # IANA name; dates are shown and filtered in this zone
    page_size: int = Field(50, ge=10, le=200)
    search: Literal["auto", "fts", "like"] = "auto"  # auto: SQLite FTS5 when present, else LIKE

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_review_config() -> ReviewConfig:
    return ReviewConfig()
