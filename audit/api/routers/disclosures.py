"""``/v1/disclosures``: lawful disclosure requests: create, get, decide, approve, and
one route per step (verify, review, map, redirect, ndo, notice, produce, preserve,
renew, close); each answers the updated request, or 409 when the request's state
refuses the step (the problem document says what must come first)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel

from audit.api.access_log import RequestRecord
from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.principal import Principal
from audit.api.problems import forbidden, responses
from audit.api.schemas.common import Ident
from audit.api.schemas.disclosures import (
    CloseIn,
    DisclosureCreated,
    DisclosureDecisionIn,
    DisclosureDetail,
    DisclosureIn,
    MapIn,
    NdoIn,
    NoticeIn,
    PreserveIn,
    ProduceIn,
    RedirectIn,
    RenewIn,
    ReviewIn,
    VerifyIn,
)
from audit.domain.disclosure import DisclosureRequest, request_id_for
from audit.services.disclosures import AlreadyRecorded, RequestFile
from audit.wiring.api import ApiServices

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


_STEP_ERRORS = responses(404, 409)


def _step(record: RequestRecord, body: BaseModel) -> None:
    record.body_fields = sorted(body.model_fields_set)
    record.count = 1


@router.post(
    "/v1/disclosures/{request_id}/verify",
    summary="Record the out-of-band verification of the requester",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def verify_disclosure(
    request_id: RequestId,
    body: Annotated[VerifyIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.verify(
        request_id,
        contact_used=body.contact_used,
        contact_source=body.contact_source,
        confirmed=body.confirmed,
        method=body.method,
        by=principal.id,
        now=now,
    )


@router.post(
    "/v1/disclosures/{request_id}/review",
    summary="Legal review of the scope: accept, narrow, reject or challenge",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def review_disclosure(
    request_id: RequestId,
    body: Annotated[ReviewIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.review(
        request_id,
        body.outcome,
        reason=body.reason,
        scope=body.scope,
        limits=body.limits.limits() if body.limits else None,
        by=principal.id,
        now=now,
    )


@router.post(
    "/v1/disclosures/{request_id}/map",
    summary="Map the data: organizations, users, data categories and time range",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def map_disclosure(
    request_id: RequestId,
    body: Annotated[MapIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    if not principal.sees_all(body.organization_ids):
        raise forbidden()
    _step(record, body)
    return services.disclosures.map(
        request_id,
        data_categories=body.data_categories,
        organization_ids=body.organization_ids,
        user_ids=body.user_ids,
        time_from=body.time_from,
        time_to=body.time_to,
        note=body.note,
        by=principal.id,
        now=now,
    )


@router.post(
    "/v1/disclosures/{request_id}/redirect",
    summary="Record the redirect of a customer-content request to the customer",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def redirect_disclosure(
    request_id: RequestId,
    body: Annotated[RedirectIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.redirect(
        request_id, body.outcome, note=body.note, by=principal.id, now=now
    )


@router.post(
    "/v1/disclosures/{request_id}/ndo",
    summary="Record a non-disclosure order (defers the customer notice until it expires)",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def ndo_disclosure(
    request_id: RequestId,
    body: Annotated[NdoIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.ndo(
        request_id,
        expires_at=body.expires_at,
        reference=body.reference,
        issuer=body.issuer,
        scope=body.scope,
        by=principal.id,
        now=now,
    )


@router.post(
    "/v1/disclosures/{request_id}/notice",
    summary="Record the customer notice: sent, deferred or not required, with the reason",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def notice_disclosure(
    request_id: RequestId,
    body: Annotated[NoticeIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.notice(
        request_id, body.status, reason=body.reason, by=principal.id, now=now
    )


@router.post(
    "/v1/disclosures/{request_id}/produce",
    summary="Produce exactly the approved scope as signed bundles (two approvals first)",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def produce_disclosure(
    request_id: RequestId,
    body: Annotated[ProduceIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.produce(request_id, purpose=body.purpose, by=principal.id, now=now)


@router.post(
    "/v1/disclosures/{request_id}/preserve",
    summary="Preserve the request's data: a legal hold until the given expiry",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def preserve_disclosure(
    request_id: RequestId,
    body: Annotated[PreserveIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.preserve(
        request_id, why=body.why, expires_at=body.expires_at, by=principal.id, now=now
    )


@router.post(
    "/v1/disclosures/{request_id}/renew",
    summary="Renew a preservation (or record an EU production order); extends the hold",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def renew_disclosure(
    request_id: RequestId,
    body: Annotated[RenewIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.renew(
        request_id,
        why=body.why,
        production_order=body.production_order,
        by=principal.id,
        now=now,
    )


@router.post(
    "/v1/disclosures/{request_id}/close",
    summary="Close the request with its outcome; its hold is released",
    response_model=DisclosureRequest,
    responses=_STEP_ERRORS,
)
def close_disclosure(
    request_id: RequestId,
    body: Annotated[CloseIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> DisclosureRequest:
    _visible(services, principal, record, request_id)
    _step(record, body)
    return services.disclosures.close(
        request_id, body.outcome, why=body.why, by=principal.id, now=now
    )
