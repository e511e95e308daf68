"""Exports (with a progress bar), bundle download and verification, an organization's
trail verification: each through the API's route functions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from audit.api.problems import ApiProblem, bad_request
from audit.api.routers import exports as exports_api
from audit.api.routers import verify as verify_api
from audit.api.schemas.jobs import ArchiveKind, ExportIn, VerifyIn
from audit.ui.guard import Console, Form, Record, Viewer, text
from audit.ui.routes.common import after_post, build, filled, services_of

router = APIRouter(include_in_schema=False)


@router.get("/ui/exports")
def exports_page(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    return state.pages.render(request, "exports.html", now=services_of(request).clock())


@router.post("/ui/exports")
def start_export(request: Request, form: Form, principal: Viewer, record: Record) -> Response:
    services = services_of(request)
    data: dict[str, Any] = {
        "organization_id": text(form, "organization_id"),
        "format": text(form, "format") or "ndjson",
        "purpose": text(form, "purpose"),
        "redaction": text(form, "redaction") or "none",
        "user_ids": [u.strip() for u in text(form, "user_ids").split(",") if u.strip()],
    }
    for name in ("since", "until"):
        if text(form, name):
            data[name] = text(form, name)
    body = build(ExportIn, data)
    job = exports_api.create_export(body, principal, services, record, services.clock())
    return after_post(f"/ui/exports/{job.id}")


def _job(request: Request, job_id: str, principal: Viewer, record: Record) -> dict[str, Any]:
    services = services_of(request)
    job = exports_api.get_export(job_id, principal, services, record)
    percent = 0
    if job.state == "succeeded":
        percent = 100
    elif job.total:
        percent = min(99, int(100 * job.done / job.total))
    return {"job": job, "percent": percent, "finished": job.state in ("succeeded", "failed")}


@router.get("/ui/exports/{job_id}")
def export_page(
    job_id: str, request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    return state.pages.render(request, "export.html", **_job(request, job_id, principal, record))


@router.get("/ui/exports/{job_id}/progress")
def export_progress(
    job_id: str, request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    """The progress block alone: the page polls it until the job has finished."""
    return state.pages.render(
        request, "partials/export_progress.html", **_job(request, job_id, principal, record)
    )


@router.get("/ui/exports/{job_id}/bundle")
def download(job_id: str, request: Request, principal: Viewer, record: Record) -> Response:
    services = services_of(request)
    archive: ArchiveKind = "zip" if request.query_params.get("archive") == "zip" else "tar"
    return exports_api.download_export(job_id, principal, services, record, archive)


@router.post("/ui/exports/verify")
async def verify_bundle(
    request: Request, form: Form, principal: Viewer, record: Record, state: Console
) -> Response:
    services = services_of(request)
    limit = services.settings.api_upload_max_bytes
    upload = form.get("bundle")
    if not isinstance(upload, UploadFile):
        raise bad_request("choose a bundle archive to upload")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiProblem(413, "too-large", "Upload too large", f"at most {limit} bytes")
    if not data:
        raise bad_request("the uploaded file is empty")
    verdict = await run_in_threadpool(
        exports_api._verify_archive,
        data,
        services,
        limit,
        principal,
    )
    record.count = verdict.files
    return state.pages.render(
        request, "verdict.html", verdict=verdict, filename=upload.filename or "bundle"
    )


@router.get("/ui/verify")
def verify_trail(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    services = services_of(request)
    asked = filled(request, "organization_id", "since", "until")
    if "organization_id" not in asked:
        return state.pages.render(request, "verify.html", report=None, job=None, asked=asked)
    body = build(VerifyIn, asked)
    answer = verify_api.verify_trail(body, principal, services, record)
    document = json.loads(bytes(answer.body))
    report, job = (document, None) if answer.status_code == 200 else (None, document)
    return state.pages.render(request, "verify.html", report=report, job=job, asked=asked)
