"""Organization and platform attributes that decide which obligations apply.

Kept in configuration (YAML, see ``audit/data/organizations.example.yaml``)
and parsed into typed models with errors naming the file and line.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audit.domain.data_files import (
    DataFileError,
    LineDict,
    describe_validation_error,
    parse_yaml,
)
from audit.domain.legal.deadlines import BusinessCalendar

JURISDICTION_PATTERN = r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"


class OrgAttributes(BaseModel):
    """What is known about one customer organization.

    ``jurisdictions``: ISO 3166-1 alpha-2 countries or ISO 3166-2
    subdivisions (``US-CA``, ``US-NY``, ``DE``) where its users live.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    organization_id: str = Field(min_length=1)
    name: str = ""
    jurisdictions: tuple[str, ...] = ()
    dora_financial_entity: bool = False
    hipaa_covered_entity: bool = False
    nydfs_covered: bool = False
    security_contact: str | None = None

    @field_validator("jurisdictions")
    @classmethod
    def _iso_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.match(JURISDICTION_PATTERN, code):
                raise ValueError(f"jurisdiction {code!r} is not an ISO 3166 code like DE or US-CA")
        return value


class PlatformAttributes(BaseModel):
    """What is known about the platform itself and its policy targets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nis2_entity: bool = False
    sec_registrant: bool = False
    nydfs_covered: bool = Field(
        default=False, description="a DFS covered entity (N.Y. GBL 899-aa(8)(a), 23 NYCRR 500)"
    )
    processor_notice_hours: int = Field(default=24, ge=1, le=72)
    customer_notice_days: int = Field(default=7, ge=0, le=90)
    sec_calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)


class AttributesConfig(BaseModel):
    """The whole attributes file: the platform and each organization by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    platform: PlatformAttributes = Field(default_factory=PlatformAttributes)
    organizations: dict[str, OrgAttributes] = Field(default_factory=dict)


def parse_attributes(text: str, source: str) -> AttributesConfig:
    """Parse an attributes file; every problem is reported with ``source:line``.

    Under ``organizations`` each key is the organization id; the entry's
    ``organization_id`` is filled from it.
    """
    raw = parse_yaml(text, source)
    if not isinstance(raw, dict):
        raise DataFileError(source, [f"{source}:1: expected a mapping at the top level"])
    orgs = raw.get("organizations")
    if isinstance(orgs, dict):
        for org_id, entry in orgs.items():
            if isinstance(entry, LineDict) and "organization_id" not in entry:
                entry["organization_id"] = str(org_id)
                entry.lines["organization_id"] = entry.line
    try:
        config = AttributesConfig.model_validate(raw)
    except ValidationError as exc:
        raise DataFileError(source, describe_validation_error(exc, raw, source)) from exc
    problems = [
        f"{source}:{orgs.lines.get(key, 0) if isinstance(orgs, LineDict) else 0}: "
        f"organizations.{key}: organization_id {org.organization_id!r} differs from its key"
        for key, org in config.organizations.items()
        if org.organization_id != key
    ]
    if problems:
        raise DataFileError(source, problems)
    return config
