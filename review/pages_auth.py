"""Logging in and out.

The login form has no session yet, so its CSRF token is a double-submit cookie: a random value
in a cookie only this path receives, repeated in the form. A site that cannot read our cookies
cannot post a login in a manager's browser.
"""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from review.auth import Viewer, authenticate, end_session, same_token, start_session
from review.context import PREFIX, ReviewContext
from review.guards import SESSION_COOKIE, Guards, safe_next
from voice.logs import get_logger

log = get_logger(__name__)

LOGIN_COOKIE = "review_login_csrf"
LOGIN_PATH = f"{PREFIX}/login"
WRONG = "Wrong name or password."


def _too_many(seconds: int, why: str = "address") -> str:
    if why == "name":  # slowed for every address: say how briefly
        return (
            f"Too many wrong passwords for this name. Try again in {seconds} second"
            f"{'' if seconds == 1 else 's'}."
        )
    minutes = max(1, -(-seconds // 60))
    return (
        f"Too many wrong passwords from this address. Try again in {minutes} minute"
        f"{'' if minutes == 1 else 's'}, or sign in from another device or network."
    )


def _login_page(
    ctx: ReviewContext, request: Request, next_: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = ctx.render(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_token=token,
        next=safe_next(next_),
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=ctx.secure_cookies(request),
    )
    return response


def add_auth_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> Response:
        if guards.viewer(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return _login_page(ctx, request, next)

    @router.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        name: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=256)] = "",
        csrf_token: Annotated[str, Form(max_length=128)] = "",
        next: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        if not same_token(request.cookies.get(LOGIN_COOKIE, ""), csrf_token):
            return _login_page(ctx, request, next, "This form expired. Please try again.", 403)
        engine = ctx.engine(request)
        address = request.client.host if request.client else "unknown"
        wait, why = ctx.throttle.check(address, name)
        if wait:
            log.warning(
                "review login refused: too many wrong passwords",
                address=address,
                per=why,
                retry_after_s=wait,
            )
            response = _login_page(ctx, request, next, _too_many(wait, why), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        manager_id = authenticate(engine, name.strip(), password)
        if manager_id is None:
            ctx.throttle.failed(address, name)
            return _login_page(ctx, request, next, WRONG, 401)
        ctx.throttle.succeeded(address, name)
        redirect = RedirectResponse(safe_next(next), status_code=303)
        redirect.set_cookie(
            SESSION_COOKIE,
            start_session(engine, manager_id, ctx.config.session_hours, ctx.config.idle_minutes),
            max_age=int(ctx.config.session_hours * 3600),
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=ctx.secure_cookies(request),
        )
        redirect.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
        return redirect

    @router.post("/logout")
    def logout(request: Request, viewer: Annotated[Viewer, Depends(guards.form)]) -> Response:
        end_session(ctx.engine(request), viewer.token_hash)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response
