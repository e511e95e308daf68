"""Lawful disclosure requests: the record legal keeps of a request for data.

Frozen: every step produces a new instance with one more history entry
(see :mod:`audit.domain.disclosure.workflow`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.domain.catalogue import DataCategory
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


class ReviewOutcome(StrEnum):
    """Legal review of the request's scope (reject and challenge block production)."""

    ACCEPT = "accept"
    NARROW = "narrow"
    REJECT = "reject"
    CHALLENGE = "challenge"


BLOCKING_REVIEWS = frozenset({ReviewOutcome.REJECT, ReviewOutcome.CHALLENGE})


class NoticeStatus(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    NOT_REQUIRED = "not_required"


class Outcome(StrEnum):
    DISCLOSED = "disclosed"
    PARTIALLY_DISCLOSED = "partially_disclosed"
    PRESERVED_ONLY = "preserved_only"
    REDIRECTED = "redirected"
    NO_DATA = "no_data"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


def unknown_categories(
    categories: Iterable[str], *, raise_as: type[Exception] | None = None
) -> list[str]:
    """The categories that are not the contract's data categories (EVENTS.md);
    with ``raise_as``, raise that exception naming them instead of answering."""
    known = {c.value for c in DataCategory}
    unknown = sorted(set(categories) - known)
    if unknown and raise_as is not None:
        raise raise_as(f"unknown data categories {unknown}; known: {sorted(known)}")
    return unknown


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a is not None and b is not None else a or b


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a is not None and b is not None else a or b


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
    documents: tuple[str, ...] = Field(
        default=(), description="SHA-256 of each document received (the process, the order)"
    )
    customer_non_us_person: bool = Field(
        default=False,
        description="18 U.S.C. 2703(h)(2)(A)(i): the customer is not a US person and does "
        "not reside in the US",
    )
    foreign_law_conflict: bool = Field(
        default=False,
        description="18 U.S.C. 2703(h)(2)(A)(ii): disclosure would create a material risk of "
        "violating the laws of a qualifying foreign government",
    )
    return_date: AwareDatetime | None = None

    @field_validator("received_at", "return_date")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("documents")
    @classmethod
    def _hashes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for digest in value:
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"document {digest!r} is not a lowercase hex SHA-256")
        return value


class Verification(BaseModel):
    """The request confirmed through a contact found independently of the request."""

    model_config = _FROZEN

    contact_used: str = Field(min_length=1)
    contact_source: str = Field(min_length=1, description="where the contact was found")
    confirmed: bool
    verified_by: str
    verified_at: AwareDatetime
    method: str = Field(default="callback", description="how: callback, in person, portal")


class ScopeLimits(BaseModel):
    """The concrete data a scope reaches: organizations, users, data categories, time
    range (end exclusive).

    Empty ``user_ids`` means every user of the organizations, empty ``data_categories``
    every category; None times are unbounded.
    """

    model_config = _FROZEN

    organization_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    time_from: AwareDatetime | None = None
    time_to: AwareDatetime | None = None
    data_categories: tuple[str, ...] = ()

    @field_validator("time_from", "time_to")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("data_categories")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown_categories(value, raise_as=ValueError)
        return value

    def key(self) -> str:
        """A stable text of the scope (what an approval approves)."""
        return "|".join(
            (
                ",".join(sorted(self.organization_ids)),
                ",".join(sorted(self.user_ids)),
                self.time_from.isoformat() if self.time_from else "",
                self.time_to.isoformat() if self.time_to else "",
            )
        )


class Review(BaseModel):
    model_config = _FROZEN

    outcome: ReviewOutcome
    reason: str = Field(min_length=1)
    limits: ScopeLimits | None = Field(
        default=None, description="narrow: what production may reach"
    )
    reviewed_by: str
    reviewed_at: AwareDatetime


class DataMapping(BaseModel):
    model_config = _FROZEN

    data_categories: tuple[str, ...]
    organization_ids: tuple[str, ...]
    mapped_by: str
    mapped_at: AwareDatetime
    note: str = ""
    user_ids: tuple[str, ...] = ()
    time_from: AwareDatetime | None = None
    time_to: AwareDatetime | None = None

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
    issuer: str = ""
    scope: str = ""
    expires_at: AwareDatetime | None = Field(description="None: no fixed expiry")
    recorded_by: str
    recorded_at: AwareDatetime

    def bars_notice_at(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


class CustomerNotice(BaseModel):
    """The customer notice: sent, deferred (until ``deferred_until``) or not required."""

    model_config = _FROZEN

    sent_at: AwareDatetime = Field(description="when the status was recorded")
    sent_by: str
    organization_ids: tuple[str, ...]
    status: NoticeStatus = NoticeStatus.SENT
    reason: str = ""
    deferred_until: AwareDatetime | None = None

    @property
    def sent(self) -> bool:
        return self.status is NoticeStatus.SENT


class Approval(BaseModel):
    model_config = _FROZEN

    principal: str
    approved_at: AwareDatetime
    scope_key: str = Field(default="", description="the export scope approved (ScopeLimits.key)")


class ProducedBundle(BaseModel):
    """One signed export bundle of a production (one per organization)."""

    model_config = _FROZEN

    organization_id: str
    bundle_id: str
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    event_count: int = Field(default=0, ge=0)


class Production(BaseModel):
    """What was handed over, by reference to an export bundle and its manifest hash."""

    model_config = _FROZEN

    bundle_id: str = Field(min_length=1)
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    produced_by: str
    produced_at: AwareDatetime
    bundles: tuple[ProducedBundle, ...] = ()
    scope: ScopeLimits | None = None


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
    review: Review | None = None
    hold_id: str | None = None
    hold_ids: tuple[str, ...] = Field(default=(), description="every hold placed, oldest first")
    hold_released: bool = False
    preservation_renewals: int = 0
    production_order_confirmed_at: AwareDatetime | None = Field(
        default=None,
        description="EU preservation order: the authority confirmed a production order "
        "(Reg. 2023/1543 Art. 11(1)); preservation continues",
    )
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
    def export_scope(self) -> ScopeLimits | None:
        """What production may export: the mapping (its data categories only), within
        a narrowing review's limits."""
        if self.mapping is None:
            return None
        mapped = ScopeLimits(
            organization_ids=self.mapping.organization_ids,
            user_ids=self.mapping.user_ids,
            time_from=self.mapping.time_from,
            time_to=self.mapping.time_to,
            data_categories=self.mapping.data_categories,
        )
        limits = self.review.limits if self.review is not None else None
        if limits is None:
            return mapped
        orgs = mapped.organization_ids
        if limits.organization_ids:
            orgs = tuple(o for o in orgs if o in limits.organization_ids)
        users = mapped.user_ids or limits.user_ids
        if mapped.user_ids and limits.user_ids:
            users = tuple(u for u in mapped.user_ids if u in limits.user_ids)
            if not users:  # disjoint: nothing may be exported (never "every user")
                orgs = ()
        categories = mapped.data_categories
        if limits.data_categories:
            categories = tuple(c for c in categories if c in limits.data_categories)
            if not categories:  # disjoint: nothing may be exported (never "every category")
                orgs = ()
        return ScopeLimits(
            organization_ids=orgs,
            user_ids=users,
            time_from=_later(mapped.time_from, limits.time_from),
            time_to=_earlier(mapped.time_to, limits.time_to),
            data_categories=categories,
        )

    @property
    def approval_key(self) -> str:
        """What an approval approves: the export scope and its data categories."""
        scope = self.export_scope
        if scope is None or self.mapping is None:
            return ""
        return f"{scope.key()}|{','.join(scope.data_categories)}"

    @property
    def approved(self) -> bool:
        """Two distinct principals approved the export scope as it is now."""
        key = self.approval_key
        return bool(key) and len({a.principal for a in self.approvals if a.scope_key == key}) >= 2

    @property
    def blocked(self) -> bool:
        return self.review is not None and self.review.outcome in BLOCKING_REVIEWS

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
