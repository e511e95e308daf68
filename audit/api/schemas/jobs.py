"""Exports, verifications and the jobs that run them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit.api.schemas.common import ActionName, Ident, Moment, OrgId, Text
from audit.domain.export import PROFILES, ExportFormat

_FORBID = ConfigDict(extra="forbid")
RedactionName = Literal["none", "no_network", "no_contact"]
assert set(get_args(RedactionName)) == set(PROFILES), "redaction profiles changed"


class _Range(BaseModel):
    model_config = _FORBID

    since: Moment | None = Field(default=None, description="events at or after (default: all)")
    until: Moment | None = Field(default=None, description="events before (default: all)")

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class ExportIn(_Range):
    """An export of one organization's events; the requester is the caller."""

    organization_id: OrgId
    format: ExportFormat
    purpose: Text = Field(min_length=1)
    redaction: RedactionName = "none"
    user_ids: list[Ident] = Field(default_factory=list, max_length=100)
    actions: list[ActionName] = Field(default_factory=list, max_length=50)


class VerifyIn(_Range):
    organization_id: OrgId


class JobOut(BaseModel):
    id: str
    kind: Literal["export", "verify"]
    state: Literal["queued", "running", "succeeded", "failed"]
    organization_id: str
    created_at: datetime
    finished_at: datetime | None = None
    done: int = Field(description="events processed so far")
    total: int | None = Field(description="events to process, when known")
    result: dict[str, Any] | None = None
    error: str | None = None
    size_bytes: int | None = Field(
        default=None,
        description="bytes of the finished export's bundle files (the archive is compressed)",
    )
    links: dict[str, str] = Field(default_factory=dict)


class JobList(BaseModel):
    jobs: list[JobOut] = Field(description="newest first")
    count: int


class JobListParams(BaseModel):
    model_config = _FORBID

    organization_id: OrgId | None = Field(
        default=None, description="one organization of the caller's scope (default: all of it)"
    )
    state: Literal["queued", "running", "succeeded", "failed"] | None = None


class VerifyReportOut(BaseModel):
    organization_id: str
    time_from: datetime | None
    time_to: datetime | None
    first_seq: int | None
    last_seq: int | None
    events: int
    digests: int
    ok: bool
    findings: list[dict[str, Any]]
    erased: list[dict[str, Any]] = Field(
        default_factory=list,
        description="events erased under data-subject requests, per request (docs/privacy.md)",
    )


class BundleVerdict(BaseModel):
    ok: bool
    findings: list[dict[str, Any]]
    files: int = Field(description="files found in the archive")


ArchiveKind = Literal["tar", "zip"]
