"""The incidents queue, an incident's page and its forms; detections.

Each page calls the API route function that does the same work, so scope
checks, redaction and the audit record are the API's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from audit.api.routers import detections as detections_api
from audit.api.routers import incidents as incidents_api
from audit.api.schemas.incidents import (
    AssignIn,
    CommentIn,
    DecisionIn,
    DetectionListParams,
    IncidentListParams,
    IncidentOut,
    TransitionIn,
)
from audit.api.views import detection_view
from audit.domain.incidents.model import ACTIVE_STATUSES
from audit.services.ports.events import EventQuery
from audit.ui.guard import Console, Form, Record, Viewer, text
from audit.ui.routes.common import after_post, build, chart_data, filled, services_of

router = APIRouter(include_in_schema=False)
_SEVERITY = {"critical": 4, "high": 3, "medium": 2, "low": 1}
_OPEN_ITEM = {"pending", "overdue", "due_soon"}
ENTITY_KINDS = {
    "user.id": "user",
    "source.ip": "ip",
    "elastra.session.id": "session",
    "elastra.token.id": "credential",
    "elastra.api_key.id": "credential",
}


@dataclass(frozen=True)
class QueueRow:
    incident: IncidentOut
    deadline: datetime | None  # the nearest deadline of an open checklist item
    deadline_state: str  # "overdue", "due_soon", "pending" or ""


def _queue(request: Request, principal: Viewer, record: Record) -> dict[str, Any]:
    services = services_of(request)
    now = services.clock()
    asked = filled(request, "status", "organization_id", "rule_id")
    status_filter = asked.pop("status", "active")
    if status_filter != "active":
        asked["status"] = status_filter
    params = build(IncidentListParams, {**asked, "limit": 1000})
    listed = incidents_api.list_incidents(params, principal, services, record)
    severity = request.query_params.get("severity", "")
    assignee = request.query_params.get("assignee", "").strip()
    rows: list[QueueRow] = []
    for incident in listed.incidents:
        if status_filter == "active" and incident.status not in ACTIVE_STATUSES:
            continue
        if severity and (incident.severity.value if incident.severity else "") != severity:
            continue
        if assignee and (incident.assignee or "") != assignee:
            continue
        nearest, state = None, ""
        if not incident.redacted:
            for item in services.incidents.checklist(incident, now):
                due_at = item.due_at
                if item.status.value not in _OPEN_ITEM or due_at is None:
                    continue
                if nearest is None or due_at < nearest:
                    nearest, state = due_at, item.status.value
        rows.append(QueueRow(incident, nearest, state))
    far = now + timedelta(days=36_500)
    rows.sort(
        key=lambda r: (
            r.deadline or far,
            -_SEVERITY.get(r.incident.severity.value if r.incident.severity else "", 0),
            r.incident.opened_at,
        )
    )
    return {
        "rows": rows,
        "now": now,
        "filters": {
            "status": status_filter,
            "severity": severity,
            "organization_id": asked.get("organization_id", ""),
            "assignee": assignee,
            "rule_id": asked.get("rule_id", ""),
        },
        "truncated": listed.truncated,
    }


@router.get("/ui/incidents")
def queue(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    return state.pages.render(request, "incidents.html", **_queue(request, principal, record))


@router.get("/ui/incidents/rows")
def queue_rows(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    """The queue's table body alone: what the page's live refresh swaps in."""
    return state.pages.render(
        request, "partials/incident_rows.html", **_queue(request, principal, record)
    )


def _incident_events(
    request: Request, incident: IncidentOut, orgs: tuple[str, ...]
) -> list[dict[str, Any]]:
    services = services_of(request)
    margin = timedelta(minutes=5)
    query = EventQuery(
        organization_ids=orgs,
        since=incident.first_event_at - margin,
        until=incident.last_event_at + margin,
    )
    page = services.events.page(query, size=200)
    return page.events


@router.get("/ui/incidents/{incident_id}")
def incident_page(
    incident_id: str, request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    services = services_of(request)
    now = services.clock()
    detail = incidents_api.get_incident(incident_id, principal, services, record, now)
    incident = detail.incident
    detections = []
    for detection_id in incident.detection_ids:
        detections.append(detection_view(principal, services.incidents.detection(detection_id)))
    visible_orgs = tuple(
        o
        for o in (*incident.organization_ids, *incident.affected_organization_ids)
        if principal.sees(o)
    )
    events = _incident_events(request, incident, visible_orgs) if visible_orgs else []
    windows = [(d.first_seen, d.last_seen, d.rule_id) for d in detections]
    entities = [
        (field, ENTITY_KINDS.get(field), value)
        for field, values in incident.entities.items()
        for value in values
    ]
    return state.pages.render(
        request,
        "incident.html",
        detail=detail,
        incident=incident,
        detections=detections,
        events=events,
        chart=chart_data([e.get("@timestamp") for e in events], windows),
        entities=entities,
        since=(incident.first_event_at - timedelta(days=1)).isoformat(),
        until=(incident.last_event_at + timedelta(days=1)).isoformat(),
        now=now,
        done=request.query_params.get("done", ""),
    )


def _back(incident_id: str, done: str) -> Response:
    return after_post(f"/ui/incidents/{incident_id}", done=done)


@router.post("/ui/incidents/{incident_id}/transitions")
def transition(
    incident_id: str, request: Request, form: Form, principal: Viewer, record: Record
) -> Response:
    services = services_of(request)
    body = build(TransitionIn, {"status": text(form, "status"), "note": text(form, "note")})
    incidents_api.transition_incident(
        incident_id, body, principal, services, record, services.clock()
    )
    return _back(incident_id, f"moved to {body.status.value}")


@router.post("/ui/incidents/{incident_id}/assignments")
def assign(
    incident_id: str, request: Request, form: Form, principal: Viewer, record: Record
) -> Response:
    services = services_of(request)
    body = build(AssignIn, {"assignee": text(form, "assignee"), "note": text(form, "note")})
    incidents_api.assign_incident(incident_id, body, principal, services, record, services.clock())
    return _back(incident_id, f"assigned to {body.assignee}")


@router.post("/ui/incidents/{incident_id}/comments")
def comment(
    incident_id: str, request: Request, form: Form, principal: Viewer, record: Record
) -> Response:
    services = services_of(request)
    body = build(CommentIn, {"text": text(form, "text")})
    incidents_api.comment_incident(incident_id, body, principal, services, record, services.clock())
    return _back(incident_id, "comment added")


@router.post("/ui/incidents/{incident_id}/checklist/{item_id}/decisions")
def decide(
    incident_id: str,
    item_id: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
) -> Response:
    services = services_of(request)
    data: dict[str, Any] = {"answer": text(form, "answer"), "rationale": text(form, "rationale")}
    for name in ("effective_at", "expires_at", "late_reasons"):
        if text(form, name):
            data[name] = text(form, name)
    body = build(DecisionIn, data)
    incidents_api.decide_item(
        incident_id, item_id, body, principal, services, record, services.clock()
    )
    return _back(incident_id, f"decision on {item_id} recorded")


@router.get("/ui/detections")
def detections(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    services = services_of(request)
    params = build(
        DetectionListParams, {**filled(request, "rule_id", "organization_id"), "limit": 500}
    )
    listed = detections_api.list_detections(params, principal, services, record)
    return state.pages.render(
        request,
        "detections.html",
        detections=listed.detections,
        truncated=listed.truncated,
        filters=filled(request, "rule_id", "organization_id"),
    )
