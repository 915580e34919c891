"""The dashboard: a date range (a preset number of days, or from/to) and its numbers."""

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from review.auth import Viewer
from review.context import ReviewContext
from review.filters import FIRST_DAY, FilterError, parse_day
from review.guards import Guards
from review.stats import PRESETS, Dashboard, dashboard

MAX_DAYS = 366


def date_range(params: Mapping[str, str], today: date) -> tuple[date, date, int | None]:
    """(first, last, preset) from ?days=N or ?from=&to= (at most a year; default 30 days).
    FilterError for a day out of range (review/filters.py)."""
    first, last = parse_day(params.get("from")), parse_day(params.get("to"))
    if first or last:
        last = last or today
        first = first or max(FIRST_DAY, last - timedelta(days=29))
        if first > last:
            first, last = last, first
        return max(first, last - timedelta(days=MAX_DAYS - 1)), last, None
    raw = params.get("days", "30")
    days = int(raw) if raw.isdigit() and int(raw) in PRESETS else 30
    return today - timedelta(days=days - 1), today, days


def _charts(board: Dashboard) -> dict:
    """What dashboard.js draws (numbers only; the page renders the text)."""
    return {
        "days": board.days,
        "per_day": list(board.per_day.items()),  # keeps outcome order
        "latency_days": board.latency_days,
        "rules": [[r, n] for r, n in board.by_rule],
        "topics": [[t, n] for t, n in board.topics],
        "outcomes": board.outcomes,
    }


def add_dashboard_routes(router: APIRouter, ctx: ReviewContext, guards: Guards) -> None:
    @router.get("/dashboard", response_class=HTMLResponse)
    def dashboard_page(
        request: Request, viewer: Annotated[Viewer, Depends(guards.page)]
    ) -> HTMLResponse:
        today = datetime.now(ctx.config.zone).date()
        try:
            first, last, preset = date_range(request.query_params, today)
        except FilterError as exc:
            return ctx.bad_request(request, viewer, str(exc), nav="dashboard")
        board = dashboard(ctx.engine(request), first, last, ctx.config.zone)
        return ctx.render(
            request,
            "dashboard.html",
            viewer,
            board=board,
            preset=preset,
            presets=PRESETS,
            charts=_charts(board),
            nav="dashboard",
        )
