"""The review pages' settings under short names: a view of the `REVIEW_*` fields of the one
settings object (`voice/settings.py`), not a second settings object.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from voice.settings import Settings


class ReviewConfig:
    """`config.page_size` is `settings.review_page_size` (REVIEW_PAGE_SIZE), and so on."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def of(cls, settings: Settings, **overrides: Any) -> ReviewConfig:
        """`settings` with some review values replaced, by short name (`page_size=10`);
        validated as the environment would be."""
        values = settings.model_dump(by_alias=True)
        values.update({f"REVIEW_{name.upper()}": value for name, value in overrides.items()})
        return cls(type(settings).model_validate(values))

    @property
    def cookie_secure(self) -> str:
        return self.settings.review_cookie_secure

    @property
    def session_hours(self) -> float:
        return self.settings.review_session_hours

    @property
    def idle_minutes(self) -> float:
        return self.settings.review_idle_minutes

    @property
    def timezone(self) -> str:
        return self.settings.review_timezone

    @property
    def page_size(self) -> int:
        return self.settings.review_page_size

    @property
    def search(self) -> str:
        return self.settings.review_search

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
