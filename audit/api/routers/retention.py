"""``/v1/retention``: the retention plan (read) and an organization's retention class."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.problems import forbidden, responses
from audit.api.schemas.common import OrgId
from audit.api.schemas.retention import (
    PlannedIndex,
    PlanParams,
    RetentionClassChange,
    RetentionClassIn,
    RetentionPlan,
)
from audit.services.retention import describe

router = APIRouter(tags=["retention"], responses=responses(400, 401, 403, 503))
OrganizationId = Annotated[OrgId, Path(description="the organization id")]


@router.get(
    "/v1/retention/plan",
    response_model=RetentionPlan,
    summary="Dry run: every index, its tier and the action due (platform scope only)",
)
def retention_plan(
    params: Annotated[PlanParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> RetentionPlan:
    # Daily indices hold every tenant's events and the plan names every hold:
    # it is the platform's, not one tenant's.
    if not principal.platform:
        raise forbidden()
    at = params.at or now
    wiring = services.retention
    actions = [
        PlannedIndex.model_validate(describe(action, wiring.display))
        for action in wiring.retention.plan(at)
    ]
    record.count = len(actions)
    return RetentionPlan(at=at, actions=actions, count=len(actions))


@router.put(
    "/v1/retention/classes/{organization_id}",
    response_model=RetentionClassChange,
    summary="Set an organization's retention class (one of the policy's selectable classes)",
)
def set_retention_class(
    organization_id: OrganizationId,
    body: Annotated[RetentionClassIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> RetentionClassChange:
    record.body_fields = ["reason", "retention_class"]
    record.resource_id = organization_id
    record.organization_id = organization_id
    if not principal.sees(organization_id):
        raise forbidden()
    change = services.retention.classes.set_org_class(
        organization_id, body.retention_class, principal.id, body.reason, now
    )
    record.count = 1
    return RetentionClassChange.model_validate(change.to_json())
