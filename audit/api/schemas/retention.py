"""The retention plan and organizations' retention classes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from audit.api.schemas.common import Ident, Moment, Text

_FORBID = ConfigDict(extra="forbid")


class PlanParams(BaseModel):
    model_config = _FORBID

    at: Moment | None = Field(default=None, description="plan time (default: now)")


class PlannedIndex(BaseModel):
    """One line of ``audit retention plan --json``."""

    index: str
    retention_class: str = Field(alias="class")
    day: str
    age_days: int
    tier: str
    action: str
    reason: str
    steps: list[str]
    holds: list[str]
    blocked_by: list[str]
    deletes: bool


class RetentionPlan(BaseModel):
    at: datetime
    actions: list[PlannedIndex]
    count: int


class RetentionClassIn(BaseModel):
    model_config = _FORBID

    retention_class: Ident = Field(description="one of the policy's org_selectable_classes")
    reason: Text = Field(min_length=1)


class RetentionClassChange(BaseModel):
    organization_id: str
    before: str | None
    after: str
    shortening: bool = Field(description="data is deleted sooner than before")
    by: str
    reason: str
    at: datetime
