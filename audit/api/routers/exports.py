"""``/v1/exports``: export jobs (audit/services/export.py), their bundles, and
verifying an uploaded bundle (audit/services/bundle.py::verify_bundle)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from audit.api.archives import (
    MEDIA_TYPES,
    SUFFIX,
    BadArchive,
    Kind,
    pack,
    plain_member,
    unpack,
)
from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.jobs import Job
from audit.api.principal import Principal
from audit.api.problems import ApiProblem, bad_request, forbidden, responses
from audit.api.schemas.jobs import (
    ArchiveKind,
    BundleVerdict,
    ExportIn,
    JobList,
    JobListParams,
    JobOut,
)
from audit.api.views import scope_filter
from audit.domain.export import MANIFEST_FILE, Manifest, profile
from audit.domain.integrity.findings import Finding, FindingKind
from audit.services.bundle import verify_bundle
from audit.services.export import ExportRequest
from audit.wiring.api import ApiServices

router = APIRouter(tags=["exports"], responses=responses(400, 401, 403, 503))
JobId = Annotated[str, PathParam(max_length=128, description="the export job id")]
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def job_view(job: Job, links: dict[str, str]) -> JobOut:
    return JobOut(
        id=job.id,
        kind="verify" if job.kind == "verify" else "export",
        state=job.state,
        organization_id=job.organization_id,
        created_at=job.created_at,
        finished_at=job.finished_at,
        done=job.done,
        total=job.total,
        result=job.result,
        error=job.error,
        size_bytes=job.size_bytes,
        links=links,
    )


def visible_job(principal: Principal, job: Job) -> Job:
    if not principal.sees(job.organization_id):
        raise forbidden()
    return job


def _links(job: Job) -> dict[str, str]:
    links = {"self": f"/v1/exports/{job.id}"}
    if job.state == "succeeded":
        links["bundle"] = f"/v1/exports/{job.id}/bundle"
    return links


@router.post(
    "/v1/exports",
    status_code=202,
    response_model=JobOut,
    responses=responses(429),
    summary="Start an export of one organization's events as a signed, verifiable bundle",
)
def create_export(
    body: Annotated[ExportIn, Body()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> JobOut:
    record.body_fields = sorted(body.model_fields_set)
    record.organization_id = body.organization_id
    if not principal.sees(body.organization_id):
        raise forbidden()
    exporter = services.integrity.exporter()  # keys are read now: a bad one fails the request
    root = Path(services.settings.api_export_dir)

    def work(job: Job) -> dict[str, Any]:
        out = root / job.id / "bundle"
        request = ExportRequest(
            organization_id=body.organization_id,
            export_format=body.format,
            purpose=body.purpose,
            requester=principal.id,
            redaction=profile(body.redaction),
            out_dir=out,
            user_ids=tuple(body.user_ids),
            actions=tuple(body.actions),
            time_from=body.since,
            time_to=body.until,
        )
        result = exporter.export(request, now, job.progress)
        job.files["bundle"] = out
        job.size_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        return result.summary()

    job = services.jobs.start("export", principal.id, body.organization_id, work)
    record.resource_id = job.id
    record.count = 1
    return job_view(job, _links(job))


@router.get(
    "/v1/exports",
    response_model=JobList,
    summary="Export jobs of the caller's organizations (the latest, from every replica)",
)
def list_exports(
    params: Annotated[JobListParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
) -> JobList:
    """Scoped like reading one job: by organization, not by who started it, so an
    organization's administrators see every export of their organization, and
    nothing of another's (an organization outside the scope is refused)."""
    record.organization_id = params.organization_id
    one, _ = scope_filter(principal, params.organization_id)

    def visible(job: Job) -> bool:
        return (
            principal.sees(job.organization_id)
            and (one is None or job.organization_id == one)
            and (params.state is None or job.state == params.state)
        )

    jobs = [job_view(j, _links(j)) for j in services.jobs.listing("export", visible)]
    record.count = len(jobs)
    return JobList(jobs=jobs, count=len(jobs))


@router.get(
    "/v1/exports/{job_id}",
    response_model=JobOut,
    responses=responses(404),
    summary="An export job: its state and progress (events written / total)",
)
def get_export(
    job_id: JobId, principal: CurrentPrincipal, services: Services, record: Record
) -> JobOut:
    record.resource_id = job_id
    job = visible_job(principal, services.jobs.get(job_id, "export"))
    record.organization_id = job.organization_id
    record.count = 1
    return job_view(job, _links(job))


@router.get(
    "/v1/exports/{job_id}/bundle",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The bundle's files in one archive",
            "content": {MEDIA_TYPES["tar"]: _BINARY, MEDIA_TYPES["zip"]: _BINARY},
        },
        **responses(404, 409),
    },
    summary="Download a finished export's bundle as a tar.gz or zip archive",
)
def download_export(
    job_id: JobId,
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    archive: Annotated[ArchiveKind, Query(description="archive format")] = "tar",
) -> FileResponse:
    record.resource_id = job_id
    job = visible_job(principal, services.jobs.get(job_id, "export"))
    record.organization_id = job.organization_id
    if job.state != "succeeded":
        raise ApiProblem(409, "conflict", "Conflict", f"the export is {job.state}, not finished")
    # Written here, or brought from the store once when another replica ran the job.
    into = Path(services.settings.api_export_dir) / job.id / "bundle"
    bundle = services.jobs.files(job, "bundle", into)
    if bundle is None:
        raise ApiProblem(409, "conflict", "Conflict", "the export left no bundle")
    kind: Kind = archive
    path = pack(bundle, kind)
    record.count = int((job.result or {}).get("events", 0))
    return FileResponse(path, media_type=MEDIA_TYPES[kind], filename=f"{job.id}.{SUFFIX[kind]}")


@router.post(
    "/v1/exports/verify",
    response_model=BundleVerdict,
    responses=responses(413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "a bundle archive (tar, tar.gz or zip of the bundle's files)",
            "content": {"application/octet-stream": _BINARY},
        }
    },
    summary="Verify an uploaded bundle archive against this deployment's keys",
)
async def verify_upload(
    request: Request, principal: CurrentPrincipal, services: Services, record: Record
) -> BundleVerdict:
    limit = services.settings.api_upload_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "too-large", "Upload too large", f"at most {limit} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit:
            raise ApiProblem(413, "too-large", "Upload too large", f"at most {limit} bytes")
    if not data:
        raise bad_request("the body must be a bundle archive")
    verdict = await run_in_threadpool(_verify_archive, bytes(data), services, limit, principal)
    record.count = verdict.files
    return verdict


def _member_only(finding: Finding, tmp: str) -> Finding:
    """The finding as the caller may see it: members named, no server path, no snippet."""
    if finding.kind is FindingKind.BUNDLE_INVALID:
        return finding.model_copy(update={"message": f"cannot read {finding.file or 'a member'}"})
    return finding.model_copy(update={"message": finding.message.replace(tmp, "")})


def _verify_archive(
    data: bytes, services: ApiServices, limit: int, principal: Principal
) -> BundleVerdict:
    trusted = services.verification_keys()
    with tempfile.TemporaryDirectory(prefix="audit-bundle-") as tmp:
        try:
            files = unpack(data, Path(tmp), max_bytes=4 * limit)
        except BadArchive as err:
            raise bad_request(str(err)) from None
        # Tenant scope: the bundle of another organization is not the caller's to
        # check, and a bundle whose manifest cannot be read is nobody's: refused.
        try:
            manifest = Manifest.model_validate_json((Path(tmp) / MANIFEST_FILE).read_bytes())
        except (OSError, ValidationError):
            raise bad_request(f"{MANIFEST_FILE} is missing or not a bundle manifest") from None
        if not principal.sees(manifest.organization_id):
            raise forbidden()
        if not all(plain_member(entry.name) for entry in manifest.files):
            raise bad_request("the manifest lists a member that is not a plain relative name")
        findings = [_member_only(f, tmp) for f in verify_bundle(Path(tmp), trusted)]
    return BundleVerdict(
        ok=not findings, findings=[f.model_dump(mode="json") for f in findings], files=files
    )
