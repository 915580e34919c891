"""The call list (filters, search, pages) and its CSV export.

No `from __future__ import annotations` in the route modules: FastAPI must evaluate the
`Depends(guards...)` annotations, and `guards` is a local of the builder function.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse

from review.annotations import popular_tags
from review.auth import Viewer
from review.context import ReviewContext
from review.exports import csv_lines
from review.filters import OUTCOMES, CallFilters, FilterError
from review.guards import Guards
from review.queries import iter_calls, list_calls


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def add_list_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/calls", response_class=HTMLResponse)
    def calls(request: Request, viewer: Annotated[Viewer, Depends(guards.page)]) -> HTMLResponse:
        engine = ctx.engine(request)
        try:
            filters = CallFilters.from_params(request.query_params)
        except FilterError as exc:
            return ctx.bad_request(request, viewer, str(exc), nav="calls")
        search = ctx.search(engine)
        page = list_calls(
            engine, filters, search, ctx.config.zone, _page_number(request), ctx.config.page_size
        )
        return ctx.render(
            request,
            "calls.html",
            viewer,
            page=page,
            filters=filters,
            outcomes=OUTCOMES,
            tags=popular_tags(engine),
            search_kind="full-text" if search.uses_fts else "substring",
            nav="calls",
        )

    @router.get("/calls.csv")
    def calls_csv(request: Request, _viewer: Annotated[Viewer, Depends(guards.data)]) -> Response:
        engine = ctx.engine(request)
        try:  # checked before the first row is streamed: never a CSV cut off by an error
            filters = CallFilters.from_params(request.query_params)
        except FilterError as exc:
            return PlainTextResponse(str(exc) + "\n", status_code=400)
        records = iter_calls(engine, filters, ctx.search(engine), ctx.config.zone)
        name = f"calls-{datetime.now().strftime('%Y%m%d-%H%M')}.csv"
        return StreamingResponse(
            csv_lines(records),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
