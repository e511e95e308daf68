"""Event search, entity timeline and top values."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress

from audit.api.schemas.common import ActionName, Category, EntityKind, Ident, Moment, OrgId
from audit.api.schemas.incidents import DetectionOut, IncidentOut

_FORBID = ConfigDict(extra="forbid")


class EventSearchParams(BaseModel):
    model_config = _FORBID

    organization_id: OrgId | None = None
    user_id: Ident | None = None
    source_ip: IPvAnyAddress | None = None
    action: ActionName | None = None
    outcome: Literal["success", "failure", "unknown"] | None = None
    category: Category | None = None
    q: str | None = Field(
        default=None,
        max_length=256,
        description="free text (simple_query_string syntax) over a fixed list of fields",
    )
    since: Moment | None = Field(default=None, description="default: 24 hours before until")
    until: Moment | None = Field(default=None, description="default: now")
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=4096)


class EventPageOut(BaseModel):
    events: list[dict[str, Any]]
    count: int
    next_cursor: str | None = Field(description="pass it as cursor for the next page")


class EntityParams(BaseModel):
    model_config = _FORBID

    entity: EntityKind
    value: Ident
    organization_id: OrgId | None = None
    since: Moment | None = Field(default=None, description="default: 24 hours before until")
    until: Moment | None = Field(default=None, description="default: now")


class TimelineParams(EntityParams):
    limit: int = Field(default=200, ge=1, le=1000)


class TimelineOut(BaseModel):
    entity: EntityKind
    value: str
    since: datetime
    until: datetime
    event_count: int = Field(description="matching events (counted up to 10,000)")
    truncated: bool
    events: list[dict[str, Any]]
    detections: list[DetectionOut]
    incidents: list[IncidentOut]


class TopParams(EntityParams):
    size: int = Field(default=10, ge=1, le=50)


class TopValue(BaseModel):
    value: str | int
    count: int


class TopOut(BaseModel):
    entity: EntityKind
    value: str
    since: datetime
    until: datetime
    event_count: int
    countries: list[TopValue]
    asns: list[TopValue]
    actions: list[TopValue]
    ips: list[TopValue]
