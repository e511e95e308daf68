"""Detections, incidents and their checklist decisions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit.api.schemas.common import Ident, Moment, OrgId, Text
from audit.domain.detection.record import Detection, Severity
from audit.domain.incidents import Incident, IncidentStatus

_FORBID = ConfigDict(extra="forbid")


class DetectionOut(Detection):
    # Redacted views (audit/api/views.py REDACTED_DETECTION) blank these.
    rule_name: str = ""
    severity: Severity | None = None  # type: ignore[assignment]
    event_count: int | None = Field(default=None, ge=1)  # type: ignore[assignment]
    mitre_technique: str | None = None
    redacted: bool = Field(default=False, description="true: other tenants' details were removed")


class IncidentOut(Incident):
    # Redacted views (audit/api/views.py REDACTED_INCIDENT) blank these.
    severity: Severity | None = None  # type: ignore[assignment]
    event_count: int | None = Field(default=None, ge=0)  # type: ignore[assignment]
    redacted: bool = Field(default=False, description="true: other tenants' details were removed")


class IncidentDetail(BaseModel):
    incident: IncidentOut
    facts: dict[str, Any] | None = Field(
        default=None, description="what the checklist is evaluated against; None when redacted"
    )
    allowed_next: list[str] = Field(default_factory=list)
    checklist: list[dict[str, Any]] = Field(default_factory=list)
    legal_hold_request: dict[str, Any] | None = None


class DetectionListParams(BaseModel):
    model_config = _FORBID

    rule_id: Ident | None = None
    organization_id: OrgId | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class DetectionList(BaseModel):
    detections: list[DetectionOut]
    count: int
    truncated: bool


class IncidentListParams(BaseModel):
    model_config = _FORBID

    status: IncidentStatus | None = None
    organization_id: OrgId | None = None
    rule_id: Ident | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class IncidentList(BaseModel):
    incidents: list[IncidentOut]
    count: int
    truncated: bool


class TransitionIn(BaseModel):
    model_config = _FORBID

    status: IncidentStatus
    note: Text = ""


class AssignIn(BaseModel):
    model_config = _FORBID

    assignee: Ident
    note: Text = ""


class CommentIn(BaseModel):
    model_config = _FORBID

    text: Text = Field(min_length=1)


class DecisionIn(BaseModel):
    model_config = _FORBID

    answer: Ident
    rationale: Text = Field(min_length=1)
    effective_at: Moment | None = None
    expires_at: Moment | None = None
    late_reasons: Text | None = None
