"""Facts a checklist is evaluated against.

A template reads facts by name from a flat map. :class:`IncidentFacts` is
the part of an incident the incident checklist needs;
:func:`incident_fact_map` flattens it together with the organization and
platform attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.domain.checklists.attributes import OrgAttributes, PlatformAttributes
from audit.domain.legal.deadlines import to_utc

FactValue = bool | int | str | datetime | tuple[str, ...] | None

CONTROLLER = "controller"
PROCESSOR = "processor"


class IncidentFacts(BaseModel):
    """What the incident checklist needs to know of an incident."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str
    opened_at: AwareDatetime = Field(description="T0: when the platform became aware")
    organization_ids: tuple[str, ...]
    affected_organization_ids: tuple[str, ...]
    data_categories: tuple[str, ...]
    roles: dict[str, str] = Field(description="data category -> controller | processor")
    severity: str

    @field_validator("opened_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)


def incident_fact_map(
    facts: IncidentFacts,
    org_attributes: Mapping[str, OrgAttributes],
    platform: PlatformAttributes,
) -> dict[str, FactValue]:
    """Flat facts: ``t0``, ``data_categories``, ``controller_data``, ``processor_data``,
    ``affected_organization_ids``, ``affected_jurisdictions``, ``severity``,
    ``platform.nis2_entity``, ``platform.sec_registrant``, ``platform.nydfs_covered``."""
    jurisdictions = sorted(
        {
            code
            for org in facts.affected_organization_ids
            if org in org_attributes
            for code in org_attributes[org].jurisdictions
        }
    )
    return {
        "t0": facts.opened_at,
        "incident_id": facts.incident_id,
        "severity": facts.severity,
        "data_categories": tuple(facts.data_categories),
        "controller_data": CONTROLLER in facts.roles.values(),
        "processor_data": PROCESSOR in facts.roles.values(),
        "organization_ids": tuple(facts.organization_ids),
        "affected_organization_ids": tuple(facts.affected_organization_ids),
        "affected_jurisdictions": tuple(jurisdictions),
        "platform.nis2_entity": platform.nis2_entity,
        "platform.sec_registrant": platform.sec_registrant,
        "platform.nydfs_covered": platform.nydfs_covered,
    }
