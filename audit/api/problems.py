"""RFC 9457 problem details: every error answer is ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from audit.api.authn import Unauthenticated
from audit.api.jobs import JobsBusy
from audit.errors import (
    AuditError,
    ConfigurationError,
    ConflictError,
    InvalidTransition,
    NotFound,
    StoreUnavailable,
)
from audit.services.disclosures import AlreadyRecorded
from audit.services.holds import HoldExists
from audit.services.incidents import BadInput
from audit.services.ports.events import CursorExpired
from audit.services.ports.jobs import StoredFileCorrupt

PROBLEM_TYPE = "application/problem+json"
_TYPE_BASE = "urn:elastra-audit:problem:"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[dict[str, Any]] | None = None


class ApiProblem(Exception):
    """Raised by the API layer to answer with one problem document."""

    def __init__(self, status: int, slug: str, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail


def forbidden() -> ApiProblem:
    # One answer for "no such resource" and "not yours": nothing leaks.
    return ApiProblem(403, "forbidden", "Forbidden", "not allowed, or no such resource")


def bad_request(detail: str) -> ApiProblem:
    return ApiProblem(400, "invalid-request", "Invalid request", detail)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str = "",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(type=_TYPE_BASE + slug, title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


def _problem_schema() -> dict[str, Any]:
    schema = Problem.model_json_schema()
    schema.pop("title", None)
    return schema


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem answers a route may give."""
    described = {
        400: "Invalid request: unknown parameter, malformed body, value out of bounds",
        401: "No credentials, or credentials that do not verify",
        403: "Not allowed, or no such resource (the same answer for both)",
        404: "No such resource",
        409: "Refused by the resource's current state, or already recorded",
        413: "The upload is larger than allowed",
        429: "Too many jobs: the caller already has one running, or the process is full",
        503: "Elasticsearch or Kafka unavailable",
    }
    content = {PROBLEM_TYPE: {"schema": _problem_schema()}}
    return {s: {"description": described[s], "content": content} for s in statuses}


def _error_list(err: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    # Locations and messages only: the input itself is not echoed back.
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))[:300]}
        for e in err.errors()[:20]
    ]


def install(app: FastAPI) -> None:
    """Exception handlers mapping every error to a problem document."""

    async def on_problem(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, ApiProblem)
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        return problem_response(err.status, err.slug, err.title, err.detail, headers=headers)

    async def on_unauthenticated(request: Request, err: Exception) -> JSONResponse:
        return problem_response(
            401,
            "unauthenticated",
            "Unauthenticated",
            str(err),
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def on_validation(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError | ValidationError)
        return problem_response(
            400, "invalid-request", "Invalid request", "the request is not valid", _error_list(err)
        )

    async def on_http(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, StarletteHTTPException)
        return problem_response(
            err.status_code,
            f"http-{err.status_code}",
            str(err.detail),
            headers=dict(err.headers) if err.headers else None,
        )

    async def on_audit_error(request: Request, err: Exception) -> JSONResponse:
        return _audit_problem(request, err)

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(Unauthenticated, on_unauthenticated)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(AuditError, on_audit_error)


def _audit_problem(request: Request, err: Exception) -> JSONResponse:
    principal = getattr(request.state, "principal", None)
    if isinstance(err, NotFound):
        if principal is not None and principal.platform:
            return problem_response(404, "not-found", "Not found", "no such resource")
        return problem_response(403, "forbidden", "Forbidden", "not allowed, or no such resource")
    if isinstance(err, JobsBusy):
        return problem_response(429, "too-many-jobs", "Too many jobs", str(err)[:500])
    if isinstance(err, AlreadyRecorded | InvalidTransition | ConflictError | HoldExists):
        return problem_response(409, "conflict", "Conflict", str(err)[:500])
    if isinstance(err, BadInput | CursorExpired):
        return problem_response(400, "invalid-request", "Invalid request", str(err)[:500])
    if isinstance(err, StoreUnavailable):
        return problem_response(503, "unavailable", "Service unavailable", "try again later")
    if isinstance(err, StoredFileCorrupt):
        return problem_response(500, "stored-file-corrupt", "Stored file corrupt", str(err)[:500])
    if isinstance(err, ConfigurationError):
        return problem_response(503, "not-configured", "Not configured", str(err)[:500])
    return problem_response(400, "invalid-request", "Invalid request", str(err)[:500])
