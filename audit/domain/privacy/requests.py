"""Data-subject requests: who asks, for what, and by when.

A request names its subject (a user id, an email address, or an IP address
within a time range), the right invoked, how the requester's identity was
verified and the law whose clock runs:

* GDPR Art. 12(3): the controller answers "without undue delay and in any
  event within one month of receipt"; the period "may be extended by two
  further months where necessary", the data subject being informed of the
  extension and the reasons within the first month;
* CCPA, Cal. Civ. Code 1798.130(a)(2): 45 days from receipt, extendable
  once by 45 more days "when reasonably necessary", with notice to the
  consumer within the first 45 days.

Events about an organization's customer content (``elastra.data_category``
``customer_content``) are the organization's, Elastra being its processor:
they are not acted on here but redirected to that organization, and the
redirection is recorded in the request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from audit.domain.legal.deadlines import add_months, to_utc
from audit.domain.privacy.fields import get_value

_ID = re.compile(r"^dsr_[a-z0-9_-]{1,64}$")


class Right(StrEnum):
    ACCESS = "access"  # GDPR Art. 15, CCPA 1798.110
    PORTABILITY = "portability"  # GDPR Art. 20
    ERASURE = "erasure"  # GDPR Art. 17, CCPA 1798.105
    RESTRICTION = "restriction"  # GDPR Art. 18
    OBJECTION = "objection"  # GDPR Art. 21
    RECTIFICATION = "rectification"  # GDPR Art. 16, CCPA 1798.106


class Law(StrEnum):
    GDPR = "gdpr"
    CCPA = "ccpa"


class Status(StrEnum):
    RECEIVED = "received"
    APPROVED = "approved"
    REFUSED = "refused"
    EXECUTED = "executed"
    LIFTED = "lifted"  # a restriction or objection lifted


class Exemption(StrEnum):
    LEGAL_OBLIGATION = "art17_3_b"  # GDPR Art. 17(3)(b): compliance with a legal obligation
    LEGAL_CLAIMS = "art17_3_e"  # GDPR Art. 17(3)(e): establishment, exercise or defence of claims


class Subject(BaseModel):
    """Whose events: exactly one identifier; an IP needs a time range (an
    address is shared over time, it names a person only for a while)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    email: str | None = Field(default=None, min_length=3, max_length=320)
    ip: str | None = Field(default=None, min_length=2, max_length=64)
    time_from: AwareDatetime | None = None
    time_to: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one(self) -> Subject:
        given = [v for v in (self.user_id, self.email, self.ip) if v is not None]
        if len(given) != 1:
            raise ValueError("name the subject by exactly one of user_id, email or ip")
        if self.ip is not None:
            try:
                canonical = str(ipaddress.ip_address(self.ip))
            except ValueError:
                raise ValueError(f"ip {self.ip!r} is not an IPv4 or IPv6 address") from None
            if canonical != self.ip:
                # Stored events hold the canonical form (normalization).
                object.__setattr__(self, "ip", canonical)
        if self.ip is not None and (self.time_from is None or self.time_to is None):
            raise ValueError("a subject named by IP needs time_from and time_to")
        if self.time_from and self.time_to and self.time_from >= self.time_to:
            raise ValueError("time_from must be before time_to")
        return self

    def concerns(self, document: Mapping[str, Any], organization_id: str | None) -> bool:
        """Whether ``document`` is one of the subject's events (the same test
        as the stored-event query of ``audit.services.subject_erasure``)."""
        name, value = self.term()
        found = get_value(document, name) == value or (
            name == "user.id" and get_value(document, "user.target.id") == value
        )
        if not found:
            return False
        if organization_id is not None and get_value(document, "organization.id") != (
            organization_id
        ):
            return False
        if self.time_from is not None or self.time_to is not None:
            stamp = document.get("@timestamp")
            try:
                when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                return False
            if self.time_from is not None and when < self.time_from:
                return False
            if self.time_to is not None and when >= self.time_to:
                return False
        return True

    def term(self) -> tuple[str, str]:
        """The (field, value) that selects the subject's events."""
        if self.user_id is not None:
            return "user.id", self.user_id
        if self.email is not None:
            return "user.email", self.email
        assert self.ip is not None
        return "source.ip", self.ip


class Verification(BaseModel):
    """How the requester was shown to be the subject (or their agent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = Field(min_length=3, max_length=200)  # e.g. "signed-in session", "email code"
    verified_by: str = Field(min_length=1, max_length=200)
    notes: str = Field(default="", max_length=2000)


class Extension(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reasons: str = Field(min_length=10, max_length=4000)
    subject_told_at: AwareDatetime
    by: str


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approved: bool
    by: str
    at: AwareDatetime
    reason: str = Field(default="", max_length=4000)
    # Erasure: events kept whatever their hold or incident state (id -> exemption)
    exemptions: dict[str, Exemption] = Field(default_factory=dict)
    exemption_reason: str = Field(default="", max_length=4000)


def _due(law: Law, received: datetime, extended: bool) -> datetime:
    if law is Law.GDPR:
        return add_months(received, 3 if extended else 1)  # Art. 12(3)
    return received + timedelta(days=90 if extended else 45)  # 1798.130(a)(2)


def _notice_by(law: Law, received: datetime) -> datetime:
    """The extension must be told to the subject within the first period."""
    return _due(law, received, extended=False)


class DataSubjectRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    right: Right
    law: Law
    subject: Subject
    organization_id: str | None = None  # the tenant whose trail is searched; None: all
    verification: Verification
    received_at: AwareDatetime
    received_by: str
    status: Status = Status.RECEIVED
    extension: Extension | None = None
    decision: Decision | None = None
    correction: str | None = Field(default=None, max_length=4000)  # rectification
    outcome: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> DataSubjectRequest:
        if not _ID.match(self.id):
            raise ValueError("a request id is dsr_ followed by a-z, 0-9, _ or -")
        if self.right is Right.RECTIFICATION and not self.correction:
            raise ValueError("a rectification request states the correction")
        return self

    @property
    def due_at(self) -> datetime:
        return _due(self.law, self.received_at, self.extension is not None)

    def extend(self, reasons: str, subject_told_at: datetime, by: str) -> DataSubjectRequest:
        if self.extension is not None:
            raise ValueError("the period was already extended (one extension at most)")
        if self.status not in (Status.RECEIVED, Status.APPROVED):
            raise ValueError(f"a {self.status.value} request cannot be extended")
        if to_utc(subject_told_at) > _notice_by(self.law, self.received_at):
            raise ValueError(
                "the subject must be told of the extension within the first period "
                + ("(GDPR Art. 12(3))" if self.law is Law.GDPR else "(Cal. Civ. Code 1798.130)")
            )
        extension = Extension(reasons=reasons, subject_told_at=subject_told_at, by=by)
        return self._with("extended", by, subject_told_at, extension=extension)

    def decide(self, decision: Decision) -> DataSubjectRequest:
        if self.status is not Status.RECEIVED:
            raise ValueError(f"the request is {self.status.value}: it was decided already")
        status = Status.APPROVED if decision.approved else Status.REFUSED
        return self._with(status.value, decision.by, decision.at, decision=decision, status=status)

    def executed(self, by: str, at: datetime, outcome: dict[str, Any]) -> DataSubjectRequest:
        if self.status is not Status.APPROVED:
            raise ValueError(f"only an approved request is executed (this one is {self.status})")
        return self._with("executed", by, at, outcome=outcome, status=Status.EXECUTED)

    def lifted(self, by: str, at: datetime, reason: str) -> DataSubjectRequest:
        if self.right not in (Right.RESTRICTION, Right.OBJECTION):
            raise ValueError("only a restriction or an objection is lifted")
        if self.status is not Status.EXECUTED:
            raise ValueError("only an executed restriction or objection is lifted")
        return self._with("lifted", by, at, status=Status.LIFTED, note=reason)

    def _with(
        self, what: str, by: str, at: datetime, note: str = "", **changes: Any
    ) -> DataSubjectRequest:
        entry = {"what": what, "by": by, "at": to_utc(at).isoformat()}
        if note:
            entry["note"] = note
        return self.model_copy(update={**changes, "history": [*self.history, entry]})

    def as_dict(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        out["due_at"] = self.due_at.isoformat()
        return out

    @classmethod
    def from_stored(cls, document: dict[str, Any]) -> DataSubjectRequest:
        return cls.model_validate({k: v for k, v in document.items() if k != "due_at"})


Disposition = Literal["erase", "keep", "redirect"]
