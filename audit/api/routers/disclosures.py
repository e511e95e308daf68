"""``/v1/disclosures``: lawful disclosure requests: create, get, decide, approve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from audit.api.access_log import RequestRecord
from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.principal import Principal
from audit.api.problems import forbidden, responses
from audit.api.schemas.common import Ident
from audit.api.schemas.disclosures import (
    DisclosureCreated,
    DisclosureDecisionIn,
    DisclosureDetail,
    DisclosureIn,
)
from audit.api.wiring import ApiServices
from audit.domain.disclosure import DisclosureRequest, request_id_for
from audit.services.disclosures import AlreadyRecorded, RequestFile

router = APIRouter(tags=["disclosures"], responses=responses(400, 401, 403, 503))
RequestId = Annotated[Ident, Path(description="the disclosure request id")]
ItemId = Annotated[Ident, Path(description="the checklist item id")]


def _visible(
    services: ApiServices, principal: Principal, record: RequestRecord, request_id: str
) -> DisclosureRequest:
    record.resource_id = request_id
    request = services.disclosures.get(request_id)
    if not principal.sees_all(request.intake.organization_ids):
        raise forbidden()
    return request


@router.post(
    "/v1/disclosures",
    status_code=201,
    response_model=DisclosureCreated,
    responses=responses(409),
    summary="Record a lawful disclosure request as received",
)
def create_disclosure(
    body: Annotated[DisclosureIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureCreated:
    record.body_fields = ["intake", "process_type", "scope"]
    if not principal.sees_all(body.intake.organization_ids):
        raise forbidden()
    spec = RequestFile(
        intake=body.intake,
        process_type=body.process_type,
        scope=body.scope,
        received_by=principal.id,
    )
    try:
        request, hold = services.disclosures.record(spec, now)
    except AlreadyRecorded:
        # The id includes the scope, so a conflict is within the caller's own
        # organizations; answer as "not found" otherwise all the same.
        existing = services.disclosures.get(request_id_for(body.intake))
        if not principal.sees_all(existing.intake.organization_ids):
            raise forbidden() from None
        raise
    record.resource_id = request.id
    record.count = 1
    return DisclosureCreated(request=request, hold_request=hold)


@router.get(
    "/v1/disclosures/{request_id}",
    response_model=DisclosureDetail,
    responses=responses(404),
    summary="A request with its clocks, next steps and checklist",
)
def get_disclosure(
    request_id: RequestId,
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureDetail:
    _visible(services, principal, record, request_id)
    record.count = 1
    return DisclosureDetail.model_validate(services.disclosures.show(request_id, now))


@router.post(
    "/v1/disclosures/{request_id}/checklist/{item_id}/decisions",
    response_model=DisclosureRequest,
    responses=responses(404, 409),
    summary="Decide a checklist item of the request",
)
def decide_disclosure(
    request_id: RequestId,
    item_id: ItemId,
    body: Annotated[DisclosureDecisionIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    record.body_fields = ["answer", "rationale"]
    _visible(services, principal, record, request_id)
    request = services.disclosures.decide(
        request_id, item_id, answer=body.answer, rationale=body.rationale, by=principal.id, now=now
    )
    record.count = 1
    return request


@router.post(
    "/v1/disclosures/{request_id}/approvals",
    response_model=DisclosureRequest,
    responses=responses(404, 409),
    summary="One legal principal's approval (two distinct approvers are needed)",
)
def approve_disclosure(
    request_id: RequestId,
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    request = services.disclosures.approve(request_id, by=principal.id, now=now)
    record.count = 1
    return request
