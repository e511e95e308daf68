"""Lawful disclosure requests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.api.principal import ORG_ID_PATTERN, valid_org_id
from audit.api.schemas.common import Ident, Moment, Text, check_moment
from audit.domain.checklists import HoldRequest
from audit.domain.disclosure import (
    DisclosureRequest,
    Intake,
    NoticeStatus,
    Outcome,
    ProcessType,
    RedirectOutcome,
    ReviewOutcome,
    ScopeLimits,
)
from audit.domain.disclosure.model import unknown_categories

_FORBID = ConfigDict(extra="forbid")
# The intake is the domain's model, unbounded: bound its strings at the door.
INTAKE_TEXT_MAX = 4000


class DisclosureIn(BaseModel):
    """The request as received; who recorded it is the caller."""

    model_config = _FORBID

    intake: Intake
    process_type: ProcessType
    scope: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        intake = data.get("intake") if isinstance(data, dict) else None
        if isinstance(intake, dict):
            for name in ("received_at", "return_date"):
                try:
                    check_moment(intake.get(name))
                except ValueError:
                    raise ValueError(f"intake.{name}: a time between 1971 and 2999") from None
            orgs = intake.get("organization_ids")
            if isinstance(orgs, list) and not 1 <= len(orgs) <= 50:
                raise ValueError("intake.organization_ids: 1 to 50 organization ids")
            if isinstance(orgs, list) and not all(
                isinstance(o, str) and valid_org_id(o) for o in orgs
            ):
                raise ValueError(f"intake.organization_ids: ids matching {ORG_ID_PATTERN}")
            for name, value in intake.items():
                if isinstance(value, str) and len(value) > INTAKE_TEXT_MAX:
                    raise ValueError(f"intake.{name}: at most {INTAKE_TEXT_MAX} characters")
        return data


class DisclosureCreated(BaseModel):
    request: DisclosureRequest
    hold_request: HoldRequest | None


class DisclosureDetail(DisclosureRequest):
    next_steps: list[str] = Field(default_factory=list)
    notice_plan: dict[str, Any] | None = None
    clocks: dict[str, Any] | None = None
    checklist: list[dict[str, Any]] = Field(default_factory=list)


class DisclosureDecisionIn(BaseModel):
    model_config = _FORBID

    answer: Ident
    rationale: Text = Field(min_length=1)


class _Step(BaseModel):
    model_config = _FORBID


class VerifyIn(_Step):
    """The out-of-band call-back: through which contact, found where, and how."""

    contact_used: Text = Field(min_length=1)
    contact_source: Text = Field(min_length=1, description="where the contact was found")
    confirmed: bool
    method: Ident = "callback"


class ScopeLimitsIn(_Step):
    organization_ids: list[Ident] = Field(default_factory=list, max_length=50)
    user_ids: list[Ident] = Field(default_factory=list, max_length=1000)
    time_from: Moment | None = None
    time_to: Moment | None = None
    data_categories: list[Ident] = Field(default_factory=list, max_length=50)

    @field_validator("data_categories")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown_categories(value, raise_as=ValueError)
        return value

    def limits(self) -> ScopeLimits:
        return ScopeLimits(
            organization_ids=tuple(self.organization_ids),
            user_ids=tuple(self.user_ids),
            time_from=self.time_from,
            time_to=self.time_to,
            data_categories=tuple(self.data_categories),
        )


class ReviewIn(_Step):
    outcome: ReviewOutcome
    reason: Text = Field(min_length=1)
    scope: Text = ""
    limits: ScopeLimitsIn | None = None


class MapIn(_Step):
    data_categories: list[Ident] = Field(min_length=1, max_length=50)
    organization_ids: list[Ident] = Field(min_length=1, max_length=50)
    user_ids: list[Ident] = Field(default_factory=list, max_length=1000)
    time_from: Moment | None = None
    time_to: Moment | None = None
    note: Text = ""


class RedirectIn(_Step):
    outcome: RedirectOutcome
    note: Text = ""


class NdoIn(_Step):
    expires_at: Moment | None = Field(description="None: no fixed expiry")
    reference: Text = ""
    issuer: Text = ""
    scope: Text = ""


class NoticeIn(_Step):
    status: NoticeStatus
    reason: Text = ""


class ProduceIn(_Step):
    purpose: Text = ""


class PreserveIn(_Step):
    why: Text = Field(min_length=1)
    expires_at: Moment | None = None


class RenewIn(_Step):
    why: Text = Field(min_length=1)
    production_order: Text = Field(
        default="", description="EU preservation order: the confirmed production order"
    )


class CloseIn(_Step):
    outcome: Outcome
    why: Text = ""
