"""Event search (filters, a timeline chart, top values, pages) and an entity's timeline.

Both go through the API's route functions (audit/api/routers/events.py), the
one place the console and the API search events from.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from audit.api.routers import events as events_api
from audit.api.schemas.events import EventSearchParams, TimelineParams
from audit.ui.guard import Console, Record, Viewer
from audit.ui.routes.common import build, chart_data, filled, services_of, top

router = APIRouter(include_in_schema=False)
FILTERS = ("organization_id", "user_id", "source_ip", "action", "outcome", "q", "since", "until")
TOP = (
    ("Actions", "event.action"),
    ("Users", "user.id"),
    ("Source IPs", "source.ip"),
    ("Outcomes", "event.outcome"),
    ("Organizations", "organization.id"),
)


@router.get("/ui/events")
def search(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    services = services_of(request)
    asked = filled(request, *FILTERS, "cursor")
    limit = request.query_params.get("limit", "50")
    params = build(EventSearchParams, {**asked, "limit": limit if limit.isdigit() else "50"})
    page = events_api.search_events(params, principal, services, record, services.clock())
    events: list[dict[str, Any]] = page.events
    filters = {k: v for k, v in asked.items() if k != "cursor"}
    return state.pages.render(
        request,
        "events.html",
        events=events,
        filters=filters,
        next_query={**filters, "limit": str(params.limit), "cursor": page.next_cursor or ""},
        chart=chart_data([e.get("@timestamp") for e in events]),
        tops=[(title, top(events, path)) for title, path in TOP],
        paged=bool(asked.get("cursor")),
    )


@router.get("/ui/timeline")
def timeline(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    services = services_of(request)
    params = build(
        TimelineParams, filled(request, "entity", "value", "organization_id", "since", "until")
    )
    found = events_api.timeline(params, principal, services, record, services.clock())
    windows = [(d.first_seen, d.last_seen, d.rule_id) for d in found.detections]
    return state.pages.render(
        request,
        "timeline.html",
        found=found,
        chart=chart_data([e.get("@timestamp") for e in found.events], windows),
        tops=[(title, top(found.events, path)) for title, path in TOP],
    )
