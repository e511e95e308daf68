"""The detection record: what a rule raises and what incidents are built from.

Its JSON form (``model_dump(mode="json")``) is the stable interface printed by
``audit detections list --json`` and stored in the ``audit-detections`` index.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}

MAX_EVENT_IDS = 100


class Detection(BaseModel):
    """One detection: a rule matched for one group key in one suppression window.

    ``id`` is derived from rule, group key and window start, so writing the
    same detection twice (replay, restart) stores it once.
    ``entities`` holds the actors and artefacts seen in the matching events,
    keyed by kind (``user.id``, ``source.ip``, ``elastra.token.id``,
    ``elastra.api_key.id``, ``elastra.session.id``, ``user.target.id``):
    incidents join detections that share one.
    ``affected_organization_ids`` are tenants whose data is concerned, e.g.
    the resource owner of a cross-tenant access.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    rule_id: str
    rule_name: str = ""
    severity: Severity
    group_key: dict[str, str]
    organization_ids: list[str]
    affected_organization_ids: list[str] = Field(default_factory=list)
    first_seen: datetime
    last_seen: datetime
    event_count: int = Field(ge=1)
    event_ids: list[str] = Field(max_length=MAX_EVENT_IDS)
    data_categories: list[str]
    entities: dict[str, list[str]] = Field(default_factory=dict)
    mitre_technique: str | None = None
    window_start: datetime
    detected_at: datetime | None = None
