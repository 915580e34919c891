"""What every review route needs: settings, the database engine, search, templates, cookies."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from starlette.requests import HTTPConnection

from review.auth import Viewer
from review.config import ReviewConfig
from review.models import create_review_tables
from review.search import TranscriptSearch
from review.throttle import LoginThrottle
from voice.settings import Settings
from voice.store.calls import Store

PREFIX = "/review"


@dataclass
class ReviewContext:
    settings: Settings
    config: ReviewConfig
    templates: Jinja2Templates
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _own_store: Store | None = None
    _searches: dict[int, TranscriptSearch] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self, request: HTTPConnection) -> Engine:
        """The app's store engine (shared pool, SQLite pragmas); our own only when the app has
        none, e.g. when review is mounted on its own."""
        store = getattr(request.app.state, "store", None)
        if store is None:
            with self._lock:
                self._own_store = self._own_store or Store(self.settings.database)
            store = self._own_store
        self.search(store.engine)  # first use of an engine prepares review's tables
        return store.engine

    def search(self, engine: Engine) -> TranscriptSearch:
        with self._lock:
            search = self._searches.get(id(engine))
            if search is None:
                create_review_tables(engine)
                search = TranscriptSearch(self.config.search)
                search.prepare(engine)
                self._searches[id(engine)] = search
            return search

    def secure_cookies(self, request: Request) -> bool:
        if self.config.cookie_secure != "auto":
            return self.config.cookie_secure == "always"
        return request.url.scheme == "https" or self.settings.public_base.startswith("https:")

    def bad_request(
        self, request: Request, viewer: Viewer | None, message: str, **context: Any
    ) -> HTMLResponse:
        """A 400 page that says what was wrong with the request (e.g. a date out of range)."""
        return self.render(
            request, "bad_request.html", viewer, status_code=400, message=message, **context
        )

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request,
            template,
            {"viewer": viewer, "prefix": PREFIX, "zone_name": self.config.timezone, **context},
            status_code=status_code,
        )
