"""Legal holds."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from audit.api.schemas.common import Ident, Moment, OrgId, Text
from audit.domain.retention import LegalHold

_FORBID = ConfigDict(extra="forbid")
HoldId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]


class HoldIn(BaseModel):
    """A hold placed by the caller: every organization must be in the caller's scope."""

    model_config = _FORBID

    organization_ids: list[OrgId] = Field(min_length=1, max_length=50)
    user_ids: list[Ident] = Field(default_factory=list, max_length=100)
    start: Moment | None = Field(default=None, description="events from this time")
    end: Moment | None = Field(default=None, description="events before this time (exclusive)")
    reason: Text = Field(min_length=1)
    reference: Ident = Field(description="case or request reference")
    expires_at: Moment | None = None
    hold_id: HoldId | None = Field(default=None, description="default: generated")


class HoldOut(LegalHold):
    active: bool


class HoldList(BaseModel):
    holds: list[HoldOut]
    count: int


class HoldListParams(BaseModel):
    model_config = _FORBID

    organization_id: OrgId | None = None
    active: bool | None = Field(default=None, description="only active (or ended) holds")


class HoldReleaseIn(BaseModel):
    model_config = _FORBID

    reason: Text = Field(min_length=1)
