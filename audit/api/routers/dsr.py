"""``/v1/dsr``: data-subject requests (audit/services/dsr.py), for the privacy
role and legal. Every call is recorded in the audit trail like any other."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.principal import Principal
from audit.api.problems import forbidden, responses
from audit.services.dsr import DsrService

router = APIRouter(tags=["data-subject requests"], responses=responses(400, 401, 403, 503))
RequestIdPath = Annotated[str, Path(pattern=r"^dsr_[a-z0-9_-]{1,64}$", description="request id")]

_lock = threading.Lock()
_built: dict[int, DsrService] = {}


def _service(services: Any) -> DsrService:
    from audit.wiring.privacy import build_dsr

    with _lock:
        key = id(services)
        if key not in _built:
            _built[key] = build_dsr(services.settings, services.es)
        return _built[key]


class DsrDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: bool
    reason: str = Field(default="", max_length=4000)
    exemptions: dict[str, str] = Field(
        default_factory=dict, description="erasure: event id (or *) -> art17_3_b | art17_3_e"
    )


class DsrExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reasons: str = Field(min_length=10, max_length=4000)
    subject_told_at: datetime


class DsrLiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=4000)


class DsrListParams(BaseModel):
    organization_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="requests of one organization"
    )
    limit: int = Field(default=100, ge=1, le=1000)


def _check_scope(principal: Principal, organization_id: str | None) -> None:
    """A request about one organization's trail is for principals who see it;
    one over every organization (``None``) is for platform staff."""
    if organization_id is None and not principal.platform:
        raise forbidden()
    if organization_id is not None and not principal.sees(organization_id):
        raise forbidden()


def _visible(services: Any, principal: Principal, request_id: str, now: datetime) -> None:
    _check_scope(principal, _service(services).show(request_id, now).get("organization_id"))


@router.post("/v1/dsr", status_code=201, responses=responses(409), summary="Record a request")
def create_request(
    body: Annotated[dict[str, Any], Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> dict[str, Any]:
    record.body_fields = sorted(body)
    organization_id = body.get("organization_id")
    _check_scope(principal, organization_id if isinstance(organization_id, str) else None)
    record.organization_id = organization_id if isinstance(organization_id, str) else None
    request = _service(services).new(body, principal.id, now)
    record.resource_id = request.id
    record.count = 1
    return request.as_dict()


@router.get("/v1/dsr", summary="The latest requests")
def list_requests(
    params: Annotated[DsrListParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
) -> dict[str, Any]:
    _check_scope(principal, params.organization_id)
    record.organization_id = params.organization_id
    found = [
        r
        for r in _service(services).recent(params.limit)
        if params.organization_id is None or r.get("organization_id") == params.organization_id
    ]
    record.count = len(found)
    return {"requests": found, "count": len(found)}


@router.get("/v1/dsr/{request_id}", responses=responses(404), summary="A request and its clock")
def show_request(
    request_id: RequestIdPath,
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> dict[str, Any]:
    record.resource_id = request_id
    shown = _service(services).show(request_id, now)
    _check_scope(principal, shown.get("organization_id"))
    record.count = 1
    return shown


@router.post("/v1/dsr/{request_id}/decision", responses=responses(404), summary="Approve or refuse")
def decide_request(
    request_id: RequestIdPath,
    body: Annotated[DsrDecisionIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> dict[str, Any]:
    record.resource_id = request_id
    _visible(services, principal, request_id, now)
    record.count = 1
    decided = _service(services).decide(
        request_id, body.approved, principal.id, now, body.reason, body.exemptions
    )
    return decided.as_dict()


@router.post(
    "/v1/dsr/{request_id}/extension",
    responses=responses(404),
    summary="Extend the period once, with reasons (the subject told within the first period)",
)
def extend_request(
    request_id: RequestIdPath,
    body: Annotated[DsrExtensionIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> dict[str, Any]:
    record.resource_id = request_id
    _visible(services, principal, request_id, now)
    record.count = 1
    return (
        _service(services)
        .extend(request_id, body.reasons, body.subject_told_at, principal.id)
        .as_dict()
    )


@router.post(
    "/v1/dsr/{request_id}/execution",
    responses=responses(404),
    summary="Carry out an approved request (access bundles go to the export directory)",
)
def execute_request(
    request_id: RequestIdPath,
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> dict[str, Any]:
    record.resource_id = request_id
    _visible(services, principal, request_id, now)
    record.count = 1
    out = FsPath(services.settings.api_export_dir) / request_id
    return _service(services).execute(request_id, principal.id, now, out).as_dict()


@router.post(
    "/v1/dsr/{request_id}/lift",
    responses=responses(404),
    summary="Lift an executed restriction or objection (recorded)",
)
def lift_request(
    request_id: RequestIdPath,
    body: Annotated[DsrLiftIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> dict[str, Any]:
    record.resource_id = request_id
    _visible(services, principal, request_id, now)
    record.count = 1
    return _service(services).lift(request_id, principal.id, body.reason, now).as_dict()
