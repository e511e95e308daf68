"""``GET /v1/verify``: verify an organization's trail over a range (audit/services/verify.py);
answered inline when small, as a job when large."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from audit.api.deps import CurrentPrincipal, Record, Services
from audit.api.jobs import Job
from audit.api.problems import forbidden, responses
from audit.api.routers.exports import job_view, visible_job
from audit.api.schemas.jobs import JobOut, VerifyIn, VerifyReportOut
from audit.services.ports.integrity import ChainQuery

router = APIRouter(tags=["verify"], responses=responses(400, 401, 403, 503))
JobId = Annotated[str, Path(max_length=128, description="the verification job id")]


@router.get(
    "/v1/verify",
    response_model=None,
    responses={
        200: {"model": VerifyReportOut, "description": "The report (a small range)"},
        202: {"model": JobOut, "description": "A job (a large range): poll its link"},
        **responses(429),
    },
    summary="Re-read an organization's events and digests over a range; report every finding",
)
def verify_trail(
    body: Annotated[VerifyIn, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
) -> JSONResponse:
    record.organization_id = body.organization_id
    if not principal.sees(body.organization_id):
        raise forbidden()
    trail = services.integrity
    verifier = trail.verifier()
    with trail.chains.snapshot() as snapshot:
        total = snapshot.count(
            ChainQuery(body.organization_id, time_from=body.since, time_to=body.until)
        )
    record.count = total
    if total <= services.settings.api_verify_inline_max_events:
        report = verifier.verify(body.organization_id, body.since, body.until)
        out = VerifyReportOut.model_validate(report.as_dict())
        return JSONResponse(out.model_dump(mode="json"), status_code=200)

    def work(job: Job) -> dict[str, Any]:
        job.total = total
        result = verifier.verify(body.organization_id, body.since, body.until).as_dict()
        job.done = int(result["events"])
        return result

    job = services.jobs.start("verify", principal.id, body.organization_id, work)
    record.resource_id = job.id
    view = job_view(job, {"self": f"/v1/verify/{job.id}"})
    return JSONResponse(
        view.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/verify/{job.id}"}
    )


@router.get(
    "/v1/verify/{job_id}",
    response_model=JobOut,
    responses=responses(404),
    summary="A verification job: its state and, when finished, the report",
)
def get_verification(
    job_id: JobId, principal: CurrentPrincipal, services: Services, record: Record
) -> JobOut:
    record.resource_id = job_id
    job = visible_job(principal, services.jobs.get(job_id, "verify"))
    record.organization_id = job.organization_id
    record.count = 1
    return job_view(job, {"self": f"/v1/verify/{job.id}"})
