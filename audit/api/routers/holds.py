"""``/v1/legal-holds``: place, list and release legal holds (audit/services/holds.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.problems import forbidden, responses
from audit.api.schemas.holds import HoldId, HoldIn, HoldList, HoldListParams, HoldOut, HoldReleaseIn
from audit.api.views import scope_filter
from audit.domain.retention.holds import LegalHold
from audit.services.holds import HoldExists
from audit.wiring.api import ApiServices

router = APIRouter(tags=["legal holds"], responses=responses(400, 401, 403, 503))
HoldIdPath = Annotated[HoldId, Path(description="the hold id")]


@router.post(
    "/v1/legal-holds",
    status_code=201,
    response_model=HoldOut,
    responses=responses(409),
    summary="Place a legal hold (wins over retention until released or expired)",
)
def create_hold(
    body: Annotated[HoldIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> HoldOut:
    record.body_fields = sorted(body.model_fields_set)
    if not principal.sees_all(body.organization_ids):
        raise forbidden()
    try:
        hold = _create(services, body, principal.id, now)
    except HoldExists:
        # A chosen id already taken: "conflict" only to whoever may see that hold.
        assert body.hold_id is not None
        taken = services.retention.hold_store.get(body.hold_id).scope.organization_ids
        if not principal.sees_all(taken):
            raise forbidden() from None
        raise
    record.resource_id = hold.id
    record.count = 1
    return HoldOut.model_validate(hold.model_dump() | {"active": hold.is_active(now)})


def _create(services: ApiServices, body: HoldIn, by: str, now: datetime) -> LegalHold:
    return services.retention.holds.create(
        organization_ids=body.organization_ids,
        user_ids=body.user_ids,
        start=body.start,
        end=body.end,
        by=by,
        reason=body.reason,
        reference=body.reference,
        expires_at=body.expires_at,
        hold_id=body.hold_id,
        at=now,
    )


@router.get(
    "/v1/legal-holds",
    response_model=HoldList,
    summary="Legal holds wholly within the caller's scope, active or not",
)
def list_holds(
    params: Annotated[HoldListParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> HoldList:
    record.organization_id = params.organization_id
    one, _ = scope_filter(principal, params.organization_id)
    holds = [
        HoldOut.model_validate(h)
        for h in services.retention.holds.listing(now)
        if principal.sees_all(h["scope"]["organization_ids"])
        and (one is None or one in h["scope"]["organization_ids"])
        and (params.active is None or h["active"] is params.active)
    ]
    record.count = len(holds)
    return HoldList(holds=holds, count=len(holds))


@router.post(
    "/v1/legal-holds/{hold_id}/release",
    response_model=HoldOut,
    responses=responses(404, 409),
    summary="Release a hold (logged with its reason); held copies then expire normally",
)
def release_hold(
    hold_id: HoldIdPath,
    body: Annotated[HoldReleaseIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> HoldOut:
    record.body_fields = ["reason"]
    record.resource_id = hold_id
    holds = services.retention.holds
    if not principal.sees_all(services.retention.hold_store.get(hold_id).scope.organization_ids):
        raise forbidden()
    released = holds.release(hold_id, principal.id, body.reason, now)
    record.count = 1
    return HoldOut.model_validate(released.model_dump() | {"active": released.is_active(now)})
