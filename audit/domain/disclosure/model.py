"""Lawful disclosure requests: the record legal keeps of a request for data.

Frozen: every step produces a new instance with one more history entry
(see :mod:`audit.domain.disclosure.workflow`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.domain.checklists.decisions import ItemDecision
from audit.domain.incidents.model import CUSTOMER_CONTENT, HistoryEntry
from audit.domain.legal.deadlines import to_utc

_FROZEN = ConfigDict(frozen=True, extra="forbid")
LEGAL_ROLE = "legal"


class ProcessType(StrEnum):
    PRESERVATION = "preservation"
    SUBPOENA = "subpoena"
    COURT_ORDER = "court_order"
    WARRANT = "warrant"
    EMERGENCY = "emergency"
    MLAT = "mlat"
    CLOUD_ACT = "cloud_act"
    EU_PRODUCTION_ORDER = "eu_production_order"
    EU_PRESERVATION_ORDER = "eu_preservation_order"
    CIVIL = "civil"


PRESERVING_PROCESSES = frozenset({ProcessType.PRESERVATION, ProcessType.EU_PRESERVATION_ORDER})


class Channel(StrEnum):
    EMAIL = "email"
    PORTAL = "portal"
    POST = "post"
    IN_PERSON = "in_person"
    E_EVIDENCE_SYSTEM = "e_evidence_system"


class RedirectOutcome(StrEnum):
    CUSTOMER_WILL_RESPOND = "customer_will_respond"
    REQUESTER_WITHDREW = "requester_withdrew"
    CUSTOMER_UNAVAILABLE = "customer_unavailable"
    REQUESTER_INSISTS = "requester_insists"


class Outcome(StrEnum):
    DISCLOSED = "disclosed"
    PARTIALLY_DISCLOSED = "partially_disclosed"
    PRESERVED_ONLY = "preserved_only"
    REDIRECTED = "redirected"
    NO_DATA = "no_data"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


class Intake(BaseModel):
    """What arrived, from whom, how and when."""

    model_config = _FROZEN

    authority: str = Field(min_length=1)
    agent: str = Field(min_length=1, description="the person acting for the authority")
    agent_contact: str = ""
    channel: Channel
    received_at: AwareDatetime
    reference: str = Field(default="", description="the authority's case or docket number")
    jurisdiction: str = Field(default="", description="ISO 3166 code of the issuing authority")
    organization_ids: tuple[str, ...] = Field(description="customers whose data is asked for")
    requested_data: str = Field(min_length=1)
    emergency: bool = False
    data_held_abroad: bool = False
    return_date: AwareDatetime | None = None

    @field_validator("received_at", "return_date")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class Verification(BaseModel):
    """The request confirmed through a contact found independently of the request."""

    model_config = _FROZEN

    contact_used: str = Field(min_length=1)
    contact_source: str = Field(min_length=1, description="where the contact was found")
    confirmed: bool
    verified_by: str
    verified_at: AwareDatetime


class DataMapping(BaseModel):
    model_config = _FROZEN

    data_categories: tuple[str, ...]
    organization_ids: tuple[str, ...]
    mapped_by: str
    mapped_at: AwareDatetime
    note: str = ""

    @property
    def customer_content(self) -> bool:
        return CUSTOMER_CONTENT in self.data_categories


class Redirect(BaseModel):
    model_config = _FROZEN

    outcome: RedirectOutcome
    recorded_by: str
    recorded_at: AwareDatetime
    note: str = ""


class NonDisclosureOrder(BaseModel):
    model_config = _FROZEN

    reference: str = ""
    expires_at: AwareDatetime | None = Field(description="None: no fixed expiry")
    recorded_by: str
    recorded_at: AwareDatetime

    def bars_notice_at(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


class CustomerNotice(BaseModel):
    model_config = _FROZEN

    sent_at: AwareDatetime
    sent_by: str
    organization_ids: tuple[str, ...]


class Approval(BaseModel):
    model_config = _FROZEN

    principal: str
    approved_at: AwareDatetime


class Production(BaseModel):
    """What was handed over, by reference to an export bundle and its manifest hash."""

    model_config = _FROZEN

    bundle_id: str = Field(min_length=1)
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    produced_by: str
    produced_at: AwareDatetime


class DisclosureRequest(BaseModel):
    model_config = _FROZEN

    id: str
    intake: Intake
    process_type: ProcessType
    scope: str
    verification: Verification | None = None
    mapping: DataMapping | None = None
    redirect: Redirect | None = None
    ndo: NonDisclosureOrder | None = None
    customer_notice: CustomerNotice | None = None
    approvals: tuple[Approval, ...] = ()
    production: Production | None = None
    hold_id: str | None = None
    preservation_renewals: int = 0
    outcome: Outcome | None = None
    closed_at: AwareDatetime | None = None
    decisions: tuple[ItemDecision, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.confirmed

    @property
    def emergency(self) -> bool:
        return self.process_type is ProcessType.EMERGENCY or self.intake.emergency

    @property
    def approved(self) -> bool:
        return len({a.principal for a in self.approvals}) >= 2

    @property
    def needs_redirect(self) -> bool:
        return self.mapping is not None and self.mapping.customer_content

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def changed(self, entry: HistoryEntry, **updates: object) -> DisclosureRequest:
        data = self.model_dump()
        data.update(updates)
        data["history"] = (*self.history, entry)
        return DisclosureRequest.model_validate(data)
