"""The review web app, as one router to include in the service's FastAPI app:

    from review.routes import create_review_router
    app.include_router(create_review_router(settings))

Static assets are served by the router itself (no separate mount to forget). Endpoints are
plain `def`s: FastAPI runs them in its thread pool, so database reads and file work never block
the event loop that carries live calls' audio.
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute

from review.auth import Viewer
from review.config import ReviewConfig
from review.context import PREFIX, ReviewContext
from review.files import static_file
from review.guards import Guards
from review.pages_auth import add_auth_routes
from review.pages_call import add_call_routes
from review.pages_callbacks import add_callback_routes
from review.pages_calls import add_list_routes
from review.pages_dashboard import add_dashboard_routes
from review.pages_live import add_live_routes
from review.templating import STATIC, make_templates
from voice.settings import Settings

SECURITY_HEADERS = {
    # No inline script or style anywhere: page data travels as JSON in <script type=...json>.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class ReviewRoute(APIRoute):
    """Adds the security headers, and keeps personal data out of caches."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "private, no-store")
            return response

        return with_headers


def _add_static_route(router: APIRouter) -> None:
    @router.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> FileResponse:
        found = static_file(STATIC, path)
        if found is None:
            raise HTTPException(404)
        # Public (the login page needs the CSS) and versioned by ?v=hash in every URL.
        return FileResponse(found, headers={"Cache-Control": "public, max-age=86400"})


def create_review_router(settings: Settings, config: ReviewConfig | None = None) -> APIRouter:
    """All of /review; `config` defaults to the REVIEW_* fields of `settings`."""
    config = config or ReviewConfig(settings)
    ctx = ReviewContext(settings, config, make_templates(config.zone))
    guards = Guards(ctx)
    router = APIRouter(prefix=PREFIX, route_class=ReviewRoute, include_in_schema=False)

    @router.get("")
    @router.get("/")
    def home(_viewer: Annotated[Viewer, Depends(guards.page)]) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/calls", status_code=303)

    _add_static_route(router)
    add_auth_routes(router, ctx, guards)
    add_list_routes(router, ctx, guards)
    add_call_routes(router, ctx, guards)
    add_dashboard_routes(router, ctx, guards)
    add_callback_routes(router, ctx, guards)
    add_live_routes(router, ctx, guards)
    return router
