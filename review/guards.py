"""Who may do what: every route but the login page and static assets requires a session.

Pages and form posts send a logged-out visitor to the login page (303); data (audio, exports,
JSON) answers 401. Forms must carry the session's CSRF token or get 403.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Form, HTTPException, Request

from review.auth import Viewer, load_session, same_token
from review.context import PREFIX, ReviewContext

SESSION_COOKIE = "review_session"


def safe_next(target: str | None) -> str:
    """Only our own pages are a place to go after login (no open redirect)."""
    if (
        target
        and target.startswith(f"{PREFIX}/")
        and not target.startswith("//")
        and "\\" not in target
        and not target.startswith(f"{PREFIX}/login")
    ):
        return target
    return f"{PREFIX}/calls"


class Guards:
    def __init__(self, ctx: ReviewContext) -> None:
        self.ctx = ctx

    def viewer(self, request: Request) -> Viewer | None:
        return load_session(
            self.ctx.engine(request),
            request.cookies.get(SESSION_COOKIE),
            hours=self.ctx.config.session_hours,
            idle_minutes=self.ctx.config.idle_minutes,
        )

    def page(self, request: Request) -> Viewer:
        viewer = self.viewer(request)
        if viewer is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(
                303,
                "login required",
                headers={"Location": f"{PREFIX}/login?next={quote(safe_next(target), safe='')}"},
            )
        return viewer

    def data(self, request: Request) -> Viewer:
        viewer = self.viewer(request)
        if viewer is None:
            raise HTTPException(401, "login required", headers={"Cache-Control": "no-store"})
        return viewer

    def form(
        self, request: Request, csrf_token: Annotated[str, Form(max_length=128)] = ""
    ) -> Viewer:
        viewer = self.viewer(request)
        if viewer is None:
            raise HTTPException(303, "login required", headers={"Location": f"{PREFIX}/login"})
        if not same_token(viewer.csrf_token, csrf_token):
            raise HTTPException(403, "missing or wrong CSRF token")
        return viewer
