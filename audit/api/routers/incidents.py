"""``/v1/incidents``: list, get, transition, assign, comment, checklist decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from audit.api.access_log import RequestRecord
from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.principal import Principal
from audit.api.problems import responses
from audit.api.schemas.common import Ident
from audit.api.schemas.incidents import (
    AssignIn,
    CommentIn,
    DecisionIn,
    IncidentDetail,
    IncidentList,
    IncidentListParams,
    IncidentOut,
    TransitionIn,
)
from audit.api.views import (
    incident_detail,
    incident_view,
    organizations_to_read,
    require_visible,
    require_whole,
)
from audit.domain.incidents import Incident
from audit.wiring.api import ApiServices

router = APIRouter(tags=["incidents"], responses=responses(400, 401, 403, 503))
IncidentId = Annotated[Ident, Path(description="the incident id")]
ItemId = Annotated[Ident, Path(description="the checklist item id")]
_WRITE = responses(404, 409)


@router.get("/v1/incidents", response_model=IncidentList, summary="Incidents, oldest first")
def list_incidents(
    params: Annotated[IncidentListParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
) -> IncidentList:
    record.organization_id = params.organization_id
    status = params.status.value if params.status else None
    found: dict[str, Incident] = {}
    for org in organizations_to_read(principal, params.organization_id):
        for incident in services.incidents.list(status=status, org=org, rule=params.rule_id):
            found[incident.id] = incident
    ordered = sorted(found.values(), key=lambda i: (i.opened_at, i.id))
    page = ordered[: params.limit]
    record.count = len(page)
    return IncidentList(
        incidents=[incident_view(principal, i) for i in page],
        count=len(page),
        truncated=len(ordered) > len(page),
    )


@router.get(
    "/v1/incidents/{incident_id}",
    response_model=IncidentDetail,
    responses=responses(404),
    summary="One incident with its checklist, allowed next states and history",
)
def get_incident(
    incident_id: IncidentId,
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> IncidentDetail:
    record.resource_id = incident_id
    incident = services.incidents.get(incident_id)
    require_visible(principal, incident)
    record.count = 1
    return incident_detail(principal, incident, services.incidents.show(incident_id, now))


def _writable(
    services: ApiServices, principal: Principal, record: RequestRecord, incident_id: str
) -> None:
    record.resource_id = incident_id
    require_whole(principal, services.incidents.get(incident_id))


@router.post(
    "/v1/incidents/{incident_id}/transitions",
    response_model=IncidentOut,
    responses=_WRITE,
    summary="Move the incident in its lifecycle",
)
def transition_incident(
    incident_id: IncidentId,
    body: Annotated[TransitionIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> IncidentOut:
    record.body_fields = ["status", "note"]
    _writable(services, principal, record, incident_id)
    incident = services.incidents.transition(
        incident_id, body.status.value, by=principal.id, note=body.note, now=now
    )
    record.count = 1
    return incident_view(principal, incident)


@router.post(
    "/v1/incidents/{incident_id}/assignments",
    response_model=IncidentOut,
    responses=_WRITE,
    summary="Assign the incident",
)
def assign_incident(
    incident_id: IncidentId,
    body: Annotated[AssignIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> IncidentOut:
    record.body_fields = ["assignee", "note"]
    _writable(services, principal, record, incident_id)
    incident = services.incidents.assign(
        incident_id, body.assignee, by=principal.id, now=now, note=body.note
    )
    record.count = 1
    return incident_view(principal, incident)


@router.post(
    "/v1/incidents/{incident_id}/comments",
    response_model=IncidentOut,
    responses=_WRITE,
    summary="Comment on the incident",
)
def comment_incident(
    incident_id: IncidentId,
    body: Annotated[CommentIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> IncidentOut:
    record.body_fields = ["text"]
    _writable(services, principal, record, incident_id)
    incident = services.incidents.comment(incident_id, body.text, by=principal.id, now=now)
    record.count = 1
    return incident_view(principal, incident)


@router.post(
    "/v1/incidents/{incident_id}/checklist/{item_id}/decisions",
    response_model=IncidentOut,
    responses=_WRITE,
    summary="Decide (or amend the decision on) a checklist item",
)
def decide_item(
    incident_id: IncidentId,
    item_id: ItemId,
    body: Annotated[DecisionIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> IncidentOut:
    record.body_fields = sorted(body.model_fields_set)
    _writable(services, principal, record, incident_id)
    incident = services.incidents.decide(
        incident_id,
        item_id,
        answer=body.answer,
        rationale=body.rationale,
        by=principal.id,
        now=now,
        effective_at=body.effective_at,
        expires_at=body.expires_at,
        late_reasons=body.late_reasons,
    )
    record.count = 1
    return incident_view(principal, incident)
