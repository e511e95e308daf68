"""The incident: facts gathered from detections, a lifecycle, and an append-only history.

Frozen: every change produces a new instance with one more history entry.
Its JSON form (``model_dump(mode="json")``) is what ``audit-incidents``
stores and ``audit incidents show --json`` prints.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.domain.checklists.decisions import ItemDecision
from audit.domain.checklists.facts import IncidentFacts
from audit.domain.detection.record import Severity
from audit.domain.legal.deadlines import to_utc

CUSTOMER_CONTENT = "customer_content"
CHECKLIST_TEMPLATE = "incident_disclosure"
CHECKLIST_VERSION = 1


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    CLOSED = "closed"
    FALSE_POSITIVE = "false_positive"


ACTIVE_STATUSES = frozenset(
    {
        IncidentStatus.OPEN,
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.INVESTIGATING,
        IncidentStatus.CONTAINED,
    }
)
TERMINAL_STATUSES = frozenset({IncidentStatus.CLOSED, IncidentStatus.FALSE_POSITIVE})


class DataRole(StrEnum):
    """The platform's GDPR role for a data category."""

    CONTROLLER = "controller"
    PROCESSOR = "processor"


def role_for_category(category: str) -> DataRole:
    """Processor for customer content (the customer is controller); controller otherwise."""
    return DataRole.PROCESSOR if category == CUSTOMER_CONTENT else DataRole.CONTROLLER


class HistoryEntry(BaseModel):
    """One change: who, when, what (``action`` and ``changes``), why. Never rewritten."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    by: str = Field(min_length=1)
    action: str
    why: str = ""
    changes: dict[str, str] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    rule_ids: tuple[str, ...]
    organization_ids: tuple[str, ...]
    affected_organization_ids: tuple[str, ...]
    entities: dict[str, tuple[str, ...]]
    data_categories: tuple[str, ...]
    roles: dict[str, DataRole]
    opened_at: AwareDatetime = Field(description="T0: when the platform became aware")
    first_event_at: AwareDatetime
    last_event_at: AwareDatetime
    event_count: int = Field(ge=0)
    detection_ids: tuple[str, ...]
    # Each detection's event count as last merged: a detection updated in
    # place (its burst went on) moves ``event_count`` by its growth only, so
    # the same update applied twice counts once. Incidents stored before
    # this field have it empty (see ``refresh_detection``).
    detection_event_counts: dict[str, int] = Field(default_factory=dict)
    severity: Severity
    status: IncidentStatus = IncidentStatus.OPEN
    assignee: str | None = None
    closure_reason: str | None = None
    evidence: tuple[str, ...] = ()
    decisions: tuple[ItemDecision, ...] = ()
    checklist_template: str = CHECKLIST_TEMPLATE
    checklist_version: int = CHECKLIST_VERSION
    history: tuple[HistoryEntry, ...] = ()

    @field_validator("opened_at", "first_event_at", "last_event_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @property
    def is_active(self) -> bool:
        """Open for new detections: open, acknowledged, investigating or contained."""
        return self.status in ACTIVE_STATUSES

    def facts(self) -> IncidentFacts:
        """What the disclosure checklist is evaluated against."""
        return IncidentFacts(
            incident_id=self.id,
            opened_at=self.opened_at,
            organization_ids=self.organization_ids,
            affected_organization_ids=self.affected_organization_ids,
            data_categories=self.data_categories,
            roles={category: role.value for category, role in self.roles.items()},
            severity=self.severity.value,
        )

    def changed(self, entry: HistoryEntry, **updates: object) -> Incident:
        """A copy with ``updates`` applied and ``entry`` appended to the history."""
        data = self.model_dump()
        data.update(updates)
        data["history"] = (*self.history, entry)
        return Incident.model_validate(data)


def history_is_extension(before: Incident, after: Incident) -> bool:
    """True when ``after``'s history keeps ``before``'s entries unchanged and in order.

    A store checks this before writing, so that no writer rewrites history.
    """
    return after.history[: len(before.history)] == before.history
